"""structure: subgroups, timetable, plans, year closures, left_reason

Revision ID: 0002_structure
Revises: 0001
Create Date: 2026-11-29 22:24:13.652068
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_structure'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('year_closures',
    sa.Column('year_id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('order_no', sa.String(length=64), nullable=False),
    sa.Column('closed_by', sa.String(length=64), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_year_id', sa.String(length=36), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['year_id'], ['years.id'], name=op.f('fk_year_closures_year_id_years')),
    sa.PrimaryKeyConstraint('year_id', name=op.f('pk_year_closures'))
    )
    op.create_table('plans',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('period_id', sa.String(length=36), nullable=False),
    sa.Column('teacher_id', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_plans_class_id_classes')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_plans_period_id_periods')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_plans_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans')),
    sa.UniqueConstraint('class_id', 'subject_id', 'period_id', name=op.f('uq_plans_class_id_subject_id_period_id'))
    )
    op.create_index(op.f('ix_plans_class_id'), 'plans', ['class_id'], unique=False)
    op.create_index(op.f('ix_plans_teacher_id'), 'plans', ['teacher_id'], unique=False)
    op.create_table('subgroups',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_subgroups_class_id_classes')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_subgroups_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subgroups')),
    sa.UniqueConstraint('class_id', 'subject_id', 'name', name=op.f('uq_subgroups_class_id_subject_id_name'))
    )
    op.create_index(op.f('ix_subgroups_class_id'), 'subgroups', ['class_id'], unique=False)
    op.create_table('plan_topics',
    sa.Column('plan_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('hours', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_topics_plan_id_plans')),
    sa.PrimaryKeyConstraint('plan_id', 'number', name=op.f('pk_plan_topics'))
    )
    op.create_table('subgroup_members',
    sa.Column('subgroup_id', sa.String(length=36), nullable=False),
    sa.Column('student_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['subgroup_id'], ['subgroups.id'], name=op.f('fk_subgroup_members_subgroup_id_subgroups')),
    sa.PrimaryKeyConstraint('subgroup_id', 'student_id', name=op.f('pk_subgroup_members'))
    )
    op.create_index(op.f('ix_subgroup_members_student_id'), 'subgroup_members', ['student_id'], unique=False)
    op.create_table('timetable_slots',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.String(length=36), nullable=False),
    sa.Column('period_id', sa.String(length=36), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('number', sa.SmallInteger(), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('teacher_id', sa.String(length=64), nullable=False),
    sa.Column('room', sa.String(length=30), nullable=True),
    sa.Column('subgroup_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_timetable_slots_class_id_classes')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_timetable_slots_period_id_periods')),
    sa.ForeignKeyConstraint(['subgroup_id'], ['subgroups.id'], name=op.f('fk_timetable_slots_subgroup_id_subgroups')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_timetable_slots_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timetable_slots'))
    )
    op.create_index(op.f('ix_timetable_slots_class_id'), 'timetable_slots', ['class_id'], unique=False)
    op.create_index('ix_timetable_slots_period_when', 'timetable_slots', ['period_id', 'weekday', 'number'], unique=False)
    op.add_column('enrolments', sa.Column('left_reason', sa.String(length=20), nullable=True))


def downgrade() -> None:
    op.drop_column('enrolments', 'left_reason')
    op.drop_index('ix_timetable_slots_period_when', table_name='timetable_slots')
    op.drop_index(op.f('ix_timetable_slots_class_id'), table_name='timetable_slots')
    op.drop_table('timetable_slots')
    op.drop_index(op.f('ix_subgroup_members_student_id'), table_name='subgroup_members')
    op.drop_table('subgroup_members')
    op.drop_table('plan_topics')
    op.drop_index(op.f('ix_subgroups_class_id'), table_name='subgroups')
    op.drop_table('subgroups')
    op.drop_index(op.f('ix_plans_teacher_id'), table_name='plans')
    op.drop_index(op.f('ix_plans_class_id'), table_name='plans')
    op.drop_table('plans')
    op.drop_table('year_closures')
