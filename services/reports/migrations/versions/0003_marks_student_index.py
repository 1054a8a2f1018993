"""Drop ``marks.ix_marks_student_id``: no report reads marks by student
alone (every query goes by class and dates, ``ix_marks_class_date``), and
the busiest projection (a class's marks, 30 rows at once) paid for it on
every insert.

Revision ID: 0003_marks_student_index
Revises: 0002_corrections
Create Date: 2026-11-30
"""
from alembic import op

revision = "0003_marks_student_index"
down_revision = "0002_corrections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_student_id")


def downgrade() -> None:
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_student_id", ["student_id"], unique=False)
