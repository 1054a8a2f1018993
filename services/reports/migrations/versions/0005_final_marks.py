"""The final-marks projection (``final_mark_posted``, R-F1): the current final
mark per student, subject and period, for the progress report's basis (R-R5).

Revision ID: 0005_final_marks
Revises: 0004_marks_school_index
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_final_marks"
down_revision = "0004_marks_school_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "final_marks",
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("period_id", sa.String(length=36), nullable=False),
        sa.Column("school_id", sa.String(length=36), nullable=False),
        sa.Column("class_id", sa.String(length=36), nullable=False),
        sa.Column("period_kind", sa.String(length=20), nullable=True),
        sa.Column("final_mark_id", sa.String(length=36), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("student_id", "subject_id", "period_id"),
    )
    with op.batch_alter_table("final_marks", schema=None) as batch_op:
        batch_op.create_index("ix_final_marks_class_period", ["class_id", "period_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("final_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_final_marks_class_period")
    op.drop_table("final_marks")
