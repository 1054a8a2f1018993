"""Join the two histories that grew from 0002_access side by side: the
central decision's projections and sessions (0003_access_central) and the
sealed secrets (0004_secrets_at_rest). They touch different tables and apply
in either order.

Revision ID: 0005_merge
Revises: 0003_access_central, 0004_secrets_at_rest
"""

revision = "0005_merge"
down_revision = ("0003_access_central", "0004_secrets_at_rest")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
