"""Add an optional free-text note to orders.

Belongs to release v1.7.0 (first candidate: tag v1.7.0-rc1). To ship it, move this file
into migrations/versions/ (and add `note` to the Order model and the order schemas).
Additive and nullable, so v1.6.x keeps running against the migrated schema; the
downgrade drops the column (and the notes written meanwhile).

Revision ID: 0002_order_notes
Revises: 0001_initial
Create Date: 2024-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_order_notes"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.String(500), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "note")
