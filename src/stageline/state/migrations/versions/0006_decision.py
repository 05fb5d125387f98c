"""pinned gates: each gate run records the gate configuration it was produced under

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # runs stored before this revision keep NULL: their configuration is unknown
    with op.batch_alter_table("gate_runs") as batch:
        batch.add_column(sa.Column("pin", sa.String(80), nullable=True))
        batch.add_column(sa.Column("pin_parts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gate_runs") as batch:
        batch.drop_column("pin_parts")
        batch.drop_column("pin")
