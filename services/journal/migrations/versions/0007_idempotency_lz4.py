"""The stored first results of Idempotency-Keys compressed with lz4 on
PostgreSQL: a class's marks answer with about 3 kB, over TOAST's 2 kB
threshold, so every keyed post compressed it with pglz. As 0006 for the
outbox body: only where the server has lz4; new rows only.

Revision ID: 0007_idempotency_lz4
Revises: 0006_outbox_lz4
Create Date: 2026-11-30
"""
from alembic import op

revision = "0007_idempotency_lz4"
down_revision = "0006_outbox_lz4"
branch_labels = None
depends_on = None


def _lz4_available(bind) -> bool:
    # the same check as 0006 (a migration does not import another's code)
    import sqlalchemy as sa

    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).first()
    return row is not None and "lz4" in (row[0] or [])


def upgrade() -> None:
    if _lz4_available(op.get_bind()):
        op.execute("ALTER TABLE idempotency_keys ALTER COLUMN result SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available(op.get_bind()):
        op.execute("ALTER TABLE idempotency_keys ALTER COLUMN result SET COMPRESSION pglz")
