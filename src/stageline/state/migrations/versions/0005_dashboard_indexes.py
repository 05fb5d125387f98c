"""indexes for the dashboard: a digest's deployments and audit trail, bounded lookups

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the release page: where a digest has been, and its audit trail
    op.create_index("ix_deployments_digest", "deployments", ["digest"])
    op.create_index("ix_events_digest", "events", ["digest"])
    # the history page filters by status (per environment or across all)
    op.create_index("ix_deployments_status", "deployments", ["status"])
    # the build box: the newest artifact
    op.create_index("ix_artifacts_built_at", "artifacts", ["built_at"])


def downgrade() -> None:
    op.drop_index("ix_artifacts_built_at", table_name="artifacts")
    op.drop_index("ix_deployments_status", table_name="deployments")
    op.drop_index("ix_events_digest", table_name="events")
    op.drop_index("ix_deployments_digest", table_name="deployments")
