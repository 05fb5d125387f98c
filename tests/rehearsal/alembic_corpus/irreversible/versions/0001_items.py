"""Items, with a legacy code column.

Revision ID: 0001_items
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_items"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("legacy_code", sa.Text),
    )
    op.execute("INSERT INTO items SELECT i, 'item ' || i, 'L' || i FROM generate_series(1, 2000) i")


def downgrade() -> None:
    op.drop_table("items")
