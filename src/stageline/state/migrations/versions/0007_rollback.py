"""deployments remember the schema revision their database was at after the deploy

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL: not read (a deploy before this revision, or a service without a database)
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("schema_revision", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("schema_revision")
