"""access-central: projections of lessons, marks and years for the central
access decision; session revocations

Revision ID: 0003_access_central
Revises: 0002_access
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_access_central'
down_revision = '0002_access'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lesson_refs',
        sa.Column('lesson_id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=False),
        sa.Column('class_id', sa.String(length=36), nullable=False),
        sa.Column('subject_id', sa.String(length=36), nullable=False),
        sa.Column('teacher_id', sa.String(length=36), nullable=True),
        sa.Column('subgroup_id', sa.String(length=36), nullable=True),
        sa.Column('substitute_for', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('lesson_id'),
    )
    op.create_index(op.f('ix_lesson_refs_teacher_id'), 'lesson_refs', ['teacher_id'], unique=False)
    op.create_table(
        'mark_refs',
        sa.Column('mark_id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=False),
        sa.Column('lesson_id', sa.String(length=36), nullable=True),
        sa.Column('class_id', sa.String(length=36), nullable=False),
        sa.Column('subject_id', sa.String(length=36), nullable=True),
        sa.Column('student_id', sa.String(length=36), nullable=True),
        sa.Column('teacher_id', sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint('mark_id'),
    )
    op.create_table(
        'year_refs',
        sa.Column('year_id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint('year_id'),
    )
    op.create_table(
        'session_revocations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('session_id', sa.String(length=36), nullable=True),
        sa.Column('before', sa.BigInteger(), nullable=False),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_session_revocations_expires', 'session_revocations', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_session_revocations_expires', table_name='session_revocations')
    op.drop_table('session_revocations')
    op.drop_table('year_refs')
    op.drop_table('mark_refs')
    op.drop_index(op.f('ix_lesson_refs_teacher_id'), table_name='lesson_refs')
    op.drop_table('lesson_refs')
