"""users.full_name

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("full_name", sa.String(120), server_default="", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("users", "full_name")
