"""The outbox body compressed with lz4 on PostgreSQL: a class's marks are one
packed outbox row of about 20 kB, compressed on insert (TOAST) and read back
by the relay; lz4 costs a fraction of the default pglz. Only where the
server has lz4 (PostgreSQL 14+ built with it); SQLite does not compress.
Rows already written keep their compression; new rows use lz4.

Revision ID: 0006_outbox_lz4
Revises: 0005_journal_rules_import
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_outbox_lz4"
down_revision = "0005_journal_rules_import"
branch_labels = None
depends_on = None


def _lz4_available(bind) -> bool:
    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).first()
    return row is not None and "lz4" in (row[0] or [])


def upgrade() -> None:
    bind = op.get_bind()
    if _lz4_available(bind):
        op.execute("ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    bind = op.get_bind()
    if _lz4_available(bind):
        op.execute("ALTER TABLE outbox ALTER COLUMN body SET COMPRESSION pglz")
