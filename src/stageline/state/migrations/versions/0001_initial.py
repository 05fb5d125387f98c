"""initial schema: artifacts, deployments, events, locks

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("digest", sa.String(80), primary_key=True),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("tag", sa.String(200), nullable=True),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        _when("commit_time"),
        _when("built_at"),
        sa.Column("built_by", sa.String(200), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
    )
    op.create_index("ix_artifacts_tag", "artifacts", ["tag"])
    op.create_index("ix_artifacts_commit", "artifacts", ["commit"])

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(80), sa.ForeignKey("artifacts.digest"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        _when("started_at"),
        _when("finished_at", nullable=True),
        sa.Column("previous_id", sa.Integer(), sa.ForeignKey("deployments.id"), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('deploy', 'promote', 'rollback', 'force')", name="ck_deployments_kind"
        ),
        sa.CheckConstraint(
            "status IN ('in_progress', 'succeeded', 'failed', 'rolled_back')",
            name="ck_deployments_status",
        ),
    )
    op.create_index("ix_deployments_environment", "deployments", ["environment"])

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _when("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("environment", sa.String(100), nullable=True),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_events_environment", "events", ["environment"])

    op.create_table(
        "locks",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        _when("since"),
        sa.Column("token", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_index("ix_events_environment", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_deployments_environment", table_name="deployments")
    op.drop_table("deployments")
    op.drop_index("ix_artifacts_commit", table_name="artifacts")
    op.drop_index("ix_artifacts_tag", table_name="artifacts")
    op.drop_table("artifacts")
