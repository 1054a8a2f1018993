"""drills, downloads and targets: the outcome of each backup's last restore drill, the targets a copy failed on; download tickets

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07 13:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.add_column(sa.Column('drilled_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('drill_ok', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('drill_checked_rows', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('drill_mismatches', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('failed_targets', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('pruned_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('backup_tickets',
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('backup_id', sa.String(length=36), nullable=False),
    sa.Column('issued_to', sa.String(length=36), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('token_sha256')
    )
    op.create_index(op.f('ix_backup_tickets_expires_at'), 'backup_tickets', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_backup_tickets_expires_at'), table_name='backup_tickets')
    op.drop_table('backup_tickets')
    with op.batch_alter_table('backups') as batch:
        batch.drop_column('pruned_at')
        batch.drop_column('failed_targets')
        batch.drop_column('drill_mismatches')
        batch.drop_column('drill_checked_rows')
        batch.drop_column('drill_ok')
        batch.drop_column('drilled_at')
