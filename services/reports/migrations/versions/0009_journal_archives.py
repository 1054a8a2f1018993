"""The year-end class journals (R-D4): PDF and XLSX per year and class.

Revision ID: 0009_journal_archives
Revises: 0008_marks_group_statistics
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

from kernel.db import UtcDateTime

revision = "0009_journal_archives"
down_revision = "0008_marks_group_statistics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journal_archives",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.String(length=36), nullable=False),
        sa.Column("year_id", sa.String(length=36), nullable=False),
        sa.Column("year_name", sa.String(length=100), nullable=True),
        sa.Column("class_id", sa.String(length=36), nullable=False),
        sa.Column("class_name", sa.String(length=50), nullable=True),
        sa.Column("order_no", sa.String(length=100), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("xlsx", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_size", sa.Integer(), nullable=False),
        sa.Column("xlsx_size", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("year_id", "class_id", name="uq_journal_archives_year_class"))
    op.create_index("ix_journal_archives_school_id", "journal_archives", ["school_id"])


def downgrade() -> None:
    op.drop_index("ix_journal_archives_school_id", table_name="journal_archives")
    op.drop_table("journal_archives")
