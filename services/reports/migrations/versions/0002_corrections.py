"""Marks keep the journal's version and a removed flag (mark_corrected,
mark_removed: R-J7).

Revision ID: 0002_corrections
Revises: 0001
Create Date: 2026-11-29 23:00:30.641158
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_corrections'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('marks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('removed', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('marks', schema=None) as batch_op:
        batch_op.drop_column('removed')
        batch_op.drop_column('version')

