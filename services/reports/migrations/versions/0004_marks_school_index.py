"""Drop ``marks.ix_marks_school_id``: every report reads a class's marks
(``ix_marks_class_date``; a class id belongs to one school), none reads a
whole school's by this index, and the busiest projection (a class's marks,
30 rows at once) paid for it on every insert.

Revision ID: 0004_marks_school_index
Revises: 0003_marks_student_index
Create Date: 2026-11-30
"""
from alembic import op

revision = "0004_marks_school_index"
down_revision = "0003_marks_student_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.drop_index("ix_marks_school_id")


def downgrade() -> None:
    with op.batch_alter_table("marks", schema=None) as batch_op:
        batch_op.create_index("ix_marks_school_id", ["school_id"], unique=False)
