"""A price per item (reversible).

Revision ID: 0002_items_price
Revises: 0001_items
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_items_price"
down_revision = "0001_items"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("price_cents", sa.Integer))


def downgrade() -> None:
    op.drop_column("items", "price_cents")
