"""Attendance with history, final marks, idempotency keys.

Revision ID: 0002_marks
Revises: 0001
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0002_marks'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('operation', sa.String(length=80), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('result', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('school_id', 'actor_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('attendance',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('lesson_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('present', 'absent', 'excused', 'ill', 'late')",
                       name=op.f('ck_attendance_status')),
    sa.ForeignKeyConstraint(['lesson_id'], ['lessons.id'], name=op.f('fk_attendance_lesson_id_lessons')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('lesson_id', 'student_id', name=op.f('uq_attendance_lesson_id_student_id'))
    )
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attendance_student_id'), ['student_id'], unique=False)

    op.create_table('attendance_versions',
    sa.Column('attendance_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('previous', sa.String(length=10), nullable=True),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['attendance_id'], ['attendance.id'],
                            name=op.f('fk_attendance_versions_attendance_id_attendance')),
    sa.PrimaryKeyConstraint('attendance_id', 'version', name=op.f('pk_attendance_versions'))
    )

    op.create_table('final_marks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('student_id', sa.String(length=64), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('period_id', sa.String(length=36), nullable=False),
    sa.Column('period_kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.SmallInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('teacher_id', sa.String(length=64), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.CheckConstraint('value BETWEEN 1 AND 5', name=op.f('ck_final_marks_value')),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_final_marks_class_id_classes')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_final_marks_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_marks'))
    )
    with op.batch_alter_table('final_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_final_marks_class_id'), ['class_id'], unique=False)
        batch_op.create_index('ix_final_marks_student_subject_period',
                              ['student_id', 'subject_id', 'period_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('final_marks', schema=None) as batch_op:
        batch_op.drop_index('ix_final_marks_student_subject_period')
        batch_op.drop_index(batch_op.f('ix_final_marks_class_id'))
    op.drop_table('final_marks')
    op.drop_table('attendance_versions')
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attendance_student_id'))
    op.drop_table('attendance')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))
    op.drop_table('idempotency_keys')
