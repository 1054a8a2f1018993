"""Extended statistics on the marks' class, student and subject, so that
PostgreSQL knows how few (class, student, subject) groups there are: a
school's progress sheet sums its marks in one GROUP BY, which without them
is planned as a sort spilled to disk (10x slower) instead of a hash.

Revision ID: 0008_marks_group_statistics
Revises: 0007_scheduled_reports
Create Date: 2026-12-07
"""
from alembic import op

revision = "0008_marks_group_statistics"
down_revision = "0007_scheduled_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS IF NOT EXISTS marks_groups (ndistinct) ON class_id, student_id, subject_id "
                   "FROM marks")
        op.execute("ANALYZE marks")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS marks_groups")
