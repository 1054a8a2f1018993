"""Join the two histories that grew from 0001 side by side: the school
structure over the year (0002_structure) and corrections, attendance and
final marks (0002_marks). Nothing to change; both apply in either order.

Revision ID: 0003_merge
Revises: 0002_structure, 0002_marks
"""

revision = "0003_merge"
down_revision = ("0002_structure", "0002_marks")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
