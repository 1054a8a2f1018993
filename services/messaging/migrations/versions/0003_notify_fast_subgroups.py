"""subgroup members (R-S5): the projection of journal's subgroup_created, so
that homework of a subgroup's lesson reaches that subgroup's families only.

Revision ID: 0003_notify_fast_subgroups
Revises: 0002_mail
Create Date: 2026-11-30 00:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_notify_fast_subgroups'
down_revision = '0002_mail'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subgroup_members',
    sa.Column('subgroup_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=36), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('subgroup_id', 'student_id', name=op.f('pk_subgroup_members'))
    )
    op.create_index(op.f('ix_subgroup_members_school_id'), 'subgroup_members', ['school_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_subgroup_members_school_id'), table_name='subgroup_members')
    op.drop_table('subgroup_members')
