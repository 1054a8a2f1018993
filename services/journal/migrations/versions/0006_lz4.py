"""The large text of a class's marks compressed with lz4 on PostgreSQL: the
packed outbox row (about 20 kB, compressed on insert and read back by the
relay) and the stored first result of its Idempotency-Key (about 3 kB, over
TOAST's 2 kB threshold). lz4 costs a fraction of the default pglz. Only
where the server has lz4 (PostgreSQL 14+ built with it); SQLite does not
compress. Rows already written keep their compression; new rows use lz4.

Revision ID: 0006_lz4
Revises: 0005_journal_rules_import
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_lz4"
down_revision = "0005_journal_rules_import"
branch_labels = None
depends_on = None

COLUMNS = (("outbox", "body"), ("idempotency_keys", "result"))


def _lz4_available(bind) -> bool:
    if bind.dialect.name != "postgresql":
        return False
    row = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")).first()
    return row is not None and "lz4" in (row[0] or [])


def _compress(method: str) -> None:
    if _lz4_available(op.get_bind()):
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _compress("lz4")


def downgrade() -> None:
    _compress("pglz")
