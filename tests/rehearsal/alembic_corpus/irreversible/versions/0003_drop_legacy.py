"""Drop the legacy code: its values are gone for good, so there is no way back.

Revision ID: 0003_drop_legacy
Revises: 0002_items_price
"""

from __future__ import annotations

from alembic import op

revision = "0003_drop_legacy"
down_revision = "0002_items_price"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("items", "legacy_code")


def downgrade() -> None:
    raise NotImplementedError("0003_drop_legacy is irreversible: legacy codes are gone")
