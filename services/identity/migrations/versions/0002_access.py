"""access: failed logins (throttling), the audit log, TOTP secrets, the access log

Revision ID: 0002_access
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_access'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_failures',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_failures_key_at', 'login_failures', ['key', 'at'], unique=False)
    op.create_table(
        'audit_log',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=True),
        sa.Column('actor_id', sa.String(length=36), nullable=True),
        sa.Column('action', sa.String(length=60), nullable=False),
        sa.Column('target_id', sa.String(length=300), nullable=True),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.Column('correlation_id', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_school_at', 'audit_log', ['school_id', 'at'], unique=False)
    op.create_table(
        'totp_secrets',
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('secret', sa.String(length=64), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('recovery_hashes', sa.JSON(), nullable=False),
        sa.Column('last_step', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('user_id'),
    )

    op.create_table(
        'access_log',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('school_id', sa.String(length=36), nullable=True),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('method', sa.String(length=10), nullable=False),
        sa.Column('route', sa.String(length=200), nullable=False),
        sa.Column('resource_id', sa.String(length=64), nullable=True),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('correlation_id', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_access_log_school_at', 'access_log', ['school_id', 'at'], unique=False)
    op.create_index('ix_access_log_user_at', 'access_log', ['user_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_access_log_user_at', table_name='access_log')
    op.drop_index('ix_access_log_school_at', table_name='access_log')
    op.drop_table('access_log')
    op.drop_table('totp_secrets')
    op.drop_index('ix_audit_log_school_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_login_failures_key_at', table_name='login_failures')
    op.drop_table('login_failures')
