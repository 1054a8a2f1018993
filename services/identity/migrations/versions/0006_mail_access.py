"""mail-access: the participants of letters (messaging's ``message_sent``)
for the central decision on ``message.read``

Revision ID: 0006_mail_access
Revises: 0005_merge
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_mail_access'
down_revision = '0005_merge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'letter_participants',
        sa.Column('message_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=False),
        sa.Column('is_sender', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('message_id', 'user_id'),
    )


def downgrade() -> None:
    op.drop_table('letter_participants')
