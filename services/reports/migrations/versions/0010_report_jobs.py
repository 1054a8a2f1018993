"""A report's files made as a job (reports.store.ReportJob): its state,
progress, and the PDF and XLSX once rendered.

Revision ID: 0010_report_jobs
Revises: 0009_journal_archives
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

from kernel.db import UtcDateTime

revision = "0010_report_jobs"
down_revision = "0009_journal_archives"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("school_id", sa.String(length=36), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("xlsx", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_report_jobs_school_created", "report_jobs", ["school_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_report_jobs_school_created", table_name="report_jobs")
    op.drop_table("report_jobs")
