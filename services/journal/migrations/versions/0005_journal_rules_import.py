"""Lessons transcribed from the paper journal: ``lessons.imported`` and
``lessons.recorded_on`` (journal.domain.imports). Existing lessons were all
entered in this journal: imported = false, recorded_on = null.

Revision ID: 0005_journal_rules_import
Revises: 0004_journal_rules
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_journal_rules_import"
down_revision = "0004_journal_rules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMNs: SQLite's batch mode would recreate "lessons", which
    # marks and attendance reference (foreign keys are on)
    op.add_column("lessons", sa.Column("imported", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("lessons", sa.Column("recorded_on", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("lessons", "recorded_on")
    op.drop_column("lessons", "imported")
