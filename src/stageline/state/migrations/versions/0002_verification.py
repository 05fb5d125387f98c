"""gate runs and verdicts (approvals, rejections)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "gate_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(100), nullable=False, index=True),
        sa.Column(
            "digest", sa.String(80), sa.ForeignKey("artifacts.digest"), nullable=False, index=True
        ),
        sa.Column("gate", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        _when("started_at"),
        _when("finished_at"),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.CheckConstraint("status IN ('passed', 'failed', 'error')", name="ck_gate_runs_status"),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(100), nullable=False, index=True),
        sa.Column(
            "digest", sa.String(80), sa.ForeignKey("artifacts.digest"), nullable=False, index=True
        ),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _when("at"),
        _when("withdrawn_at", nullable=True),
        sa.CheckConstraint("kind IN ('approve', 'reject')", name="ck_verdicts_kind"),
    )


def downgrade() -> None:
    op.drop_table("verdicts")
    op.drop_table("gate_runs")
