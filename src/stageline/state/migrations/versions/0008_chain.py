"""decisions in the audit chain: gate runs and verdicts link to the event that recorded them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

Rows written before this revision were never vouched for by an event. They are chained
once here, in id order, each by a ``record.backfilled`` event (``"backfilled": true``)
over its content as it is at the upgrade: from then on a change to them is caught, but
what happened to them before the upgrade cannot be proved, and the marker says so.
The hash functions are imported, not copied: they are the chain's contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from stageline.state.models import GENESIS_HASH, canonical_json, event_hash
from stageline.state.verification import record_hash

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID_KEYS = {"gate_runs": "run", "verdicts": "verdict"}


def upgrade() -> None:
    for table in _ID_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("event_hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    for table, id_key in _ID_KEYS.items():
        _backfill(conn, table, id_key)


def _backfill(conn: sa.Connection, table_name: str, id_key: str) -> None:
    table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
    events = sa.Table("events", sa.MetaData(), autoload_with=conn)
    for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings().all():
        values = dict(row)
        record = {"table": table_name, "id": values["id"], "hash": record_hash(table_name, values)}
        data: dict[str, Any] = {"backfilled": True, id_key: values["id"], "record": record}
        last = conn.execute(sa.select(events.c.hash).order_by(events.c.id.desc()).limit(1))
        prev_hash = last.scalar() or GENESIS_HASH
        at = datetime.now(UTC)
        fields: dict[str, Any] = {
            "actor": "stageline",
            "kind": "record.backfilled",
            "environment": values["environment"],
            "digest": values["digest"],
        }
        digest = event_hash(prev_hash, at=at, data=data, **fields)
        stamp = at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else at
        conn.execute(
            events.insert().values(
                at=stamp, data=canonical_json(data), prev_hash=prev_hash, hash=digest, **fields
            )
        )
        conn.execute(table.update().where(table.c.id == values["id"]).values(event_hash=digest))


def downgrade() -> None:
    for table in _ID_KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("event_hash")
