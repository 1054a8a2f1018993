"""Projections for every report kind (R-R1..R-R9): lessons, attendance and
its corrections, movements, plans, parents, access per user and day; the
subjects' emphasis, the people's sex, the enrolments' departure, the final
marks' lateness and author.

Revision ID: 0006_report_projections
Revises: 0005_final_marks
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

from kernel.db import UtcDateTime

revision = "0006_report_projections"
down_revision = "0005_final_marks"
branch_labels = None
depends_on = None

ID = sa.String(length=36)


def upgrade() -> None:
    with op.batch_alter_table("subjects") as b:
        b.add_column(sa.Column("emphasis", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("enrolments") as b:
        b.add_column(sa.Column("left_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("left_order_no", sa.String(length=50), nullable=True))
        b.add_column(sa.Column("left_reason", sa.String(length=20), nullable=True))
    with op.batch_alter_table("final_marks") as b:
        b.add_column(sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("teacher_id", ID, nullable=True))
        b.add_column(sa.Column("posted_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("people") as b:
        b.add_column(sa.Column("sex", sa.String(length=10), nullable=True))

    op.create_table(
        "parent_links",
        sa.Column("student_id", ID, nullable=False), sa.Column("parent_id", ID, nullable=False),
        sa.Column("school_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("student_id", "parent_id"))
    op.create_index("ix_parent_links_school_id", "parent_links", ["school_id"])
    op.create_table(
        "lessons",
        sa.Column("id", ID, nullable=False), sa.Column("school_id", ID, nullable=False),
        sa.Column("class_id", ID, nullable=False), sa.Column("subject_id", ID, nullable=False),
        sa.Column("teacher_id", ID, nullable=False), sa.Column("date", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(length=500), nullable=True),
        sa.Column("lesson_type", sa.String(length=100), nullable=True),
        sa.Column("work_type", sa.String(length=100), nullable=True),
        sa.Column("has_homework", sa.Boolean(), nullable=False),
        sa.Column("subgroup_id", ID, nullable=True), sa.Column("substitute_for", ID, nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False), sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False), sa.Column("recorded_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_lessons_class_date", "lessons", ["class_id", "date"])
    op.create_index("ix_lessons_school_date", "lessons", ["school_id", "date"])
    op.create_table(
        "attendance",
        sa.Column("lesson_id", ID, nullable=False), sa.Column("student_id", ID, nullable=False),
        sa.Column("school_id", ID, nullable=False), sa.Column("class_id", ID, nullable=False),
        sa.Column("subject_id", ID, nullable=False), sa.Column("date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False), sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("lesson_id", "student_id"))
    op.create_index("ix_attendance_class_date", "attendance", ["class_id", "date"])
    op.create_table(
        "attendance_corrections",
        sa.Column("event_id", ID, nullable=False), sa.Column("student_id", ID, nullable=False),
        sa.Column("school_id", ID, nullable=False), sa.Column("lesson_id", ID, nullable=False),
        sa.Column("class_id", ID, nullable=False), sa.Column("date", sa.Date(), nullable=False),
        sa.Column("previous", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True), sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "student_id"))
    op.create_index("ix_attendance_corrections_class_id", "attendance_corrections", ["class_id"])
    op.create_table(
        "movements",
        sa.Column("id", ID, nullable=False), sa.Column("school_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False), sa.Column("student_id", ID, nullable=False),
        sa.Column("from_class_id", ID, nullable=True), sa.Column("to_class_id", ID, nullable=True),
        sa.Column("order_no", sa.String(length=50), nullable=True), sa.Column("on", sa.Date(), nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_movements_school_id", "movements", ["school_id"])
    op.create_table(
        "plans",
        sa.Column("id", ID, nullable=False), sa.Column("school_id", ID, nullable=False),
        sa.Column("class_id", ID, nullable=False), sa.Column("subject_id", ID, nullable=False),
        sa.Column("period_id", ID, nullable=False), sa.Column("teacher_id", ID, nullable=True),
        sa.Column("hours", sa.Integer(), nullable=False), sa.Column("topics", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_plans_school_id", "plans", ["school_id"])
    op.create_table(
        "access_days",
        sa.Column("user_id", ID, nullable=False), sa.Column("day", sa.Date(), nullable=False),
        sa.Column("school_id", ID, nullable=False), sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("logins", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day"))
    op.create_table(
        "access_seen",
        sa.Column("id", ID, nullable=False), sa.Column("school_id", ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_access_seen_day", "access_seen", ["day"])


def downgrade() -> None:
    for table in ("access_seen", "access_days", "plans", "movements", "attendance_corrections", "attendance",
                  "lessons", "parent_links"):
        op.drop_table(table)
    with op.batch_alter_table("people") as b:
        b.drop_column("sex")
    with op.batch_alter_table("final_marks") as b:
        for c in ("posted_at", "teacher_id", "late"):
            b.drop_column(c)
    with op.batch_alter_table("enrolments") as b:
        for c in ("left_reason", "left_order_no", "left_on"):
            b.drop_column(c)
    with op.batch_alter_table("subjects") as b:
        b.drop_column("emphasis")
