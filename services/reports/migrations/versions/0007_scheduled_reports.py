"""Reports the service produced by itself (the monthly journal-keeping
monitoring, R-R7), one row per school, kind and month.

Revision ID: 0007_scheduled_reports
Revises: 0006_report_projections
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

from kernel.db import UtcDateTime

revision = "0007_scheduled_reports"
down_revision = "0006_report_projections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_reports",
        sa.Column("school_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("produced_at", UtcDateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("school_id", "kind", "month"))


def downgrade() -> None:
    op.drop_table("scheduled_reports")
