"""drills: the outcome of each backup's last restore drill

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


def downgrade() -> None:
    with op.batch_alter_table('backups') as batch:
        batch.drop_column('drill_mismatches')
        batch.drop_column('drill_checked_rows')
        batch.drop_column('drill_ok')
        batch.drop_column('drilled_at')
