"""Long work as jobs (journal.store.Job): a student import or a year close
started with ``Prefer: respond-async`` runs from the journal's own
``job_queued`` event; its state and progress are this row.

Revision ID: 0007_jobs
Revises: 0006_lz4
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_jobs"
down_revision = "0006_lz4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('ctx', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_school_created', 'jobs', ['school_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_jobs_school_created', table_name='jobs')
    op.drop_table('jobs')
