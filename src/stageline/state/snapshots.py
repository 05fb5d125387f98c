"""Anonymized snapshots kept as template databases: what was taken, from where, when.

The snapshot itself lives on the holding environment's PostgreSQL server as a template
database named :attr:`SnapshotRecord.name`; this table only records it. Kept apart from
``models.py`` so each file holds one subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stageline.state.models import Base, UTCDateTime


class SnapshotRow(Base):
    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rules_digest: Mapped[str] = mapped_column(String(80))
    row_counts: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(200))
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class SnapshotRecord:
    """One snapshot: ``name`` is the template database on ``environment``'s server."""

    id: int
    name: str
    source: str
    environment: str
    created_at: datetime
    rules_digest: str
    row_counts: dict[str, int]
    bytes: int
    duration: float
    actor: str
    dropped_at: datetime | None

    @property
    def rows(self) -> int:
        return sum(self.row_counts.values())

    @classmethod
    def from_row(cls, row: SnapshotRow) -> SnapshotRecord:
        return cls(
            id=row.id,
            name=row.name,
            source=row.source,
            environment=row.environment,
            created_at=row.created_at,
            rules_digest=row.rules_digest,
            row_counts={str(k): int(v) for k, v in json.loads(row.row_counts).items()},
            bytes=row.bytes,
            duration=row.duration,
            actor=row.actor,
            dropped_at=row.dropped_at,
        )
