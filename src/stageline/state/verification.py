"""Gate runs and verdicts (approvals, rejections): what sign-off is decided from.

Both are bound to one digest in one environment; nothing here decides anything (see
``stageline.signoff``). Kept apart from ``models.py`` so each file holds one subject.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stageline.state.models import Base, UTCDateTime
from stageline.values import GateStatus as GateStatus  # re-exported

VerdictKind = Literal["approve", "reject"]


class GateRunRow(Base):
    __tablename__ = "gate_runs"
    __table_args__ = (
        CheckConstraint("status IN ('passed', 'failed', 'error')", name="ck_gate_runs_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    digest: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"), index=True)
    gate: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration: Mapped[float] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[str] = mapped_column(Text)
    report_path: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    #: the pin of the gate configuration the run was produced under (stageline.pins)
    pin: Mapped[str | None] = mapped_column(String(80))
    pin_parts: Mapped[str | None] = mapped_column(Text)


class VerdictRow(Base):
    __tablename__ = "verdicts"
    __table_args__ = (CheckConstraint("kind IN ('approve', 'reject')", name="ck_verdicts_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    digest: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"), index=True)
    person: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class GateRunRecord:
    """One run of one gate against one digest in one environment, with its evidence."""

    id: int
    environment: str
    digest: str
    gate: str
    kind: str
    status: GateStatus
    started_at: datetime
    finished_at: datetime
    duration: float
    summary: str
    evidence: dict[str, Any]
    report_path: str | None
    actor: str
    #: ``sha256:`` digest of the gate configuration it ran under; None for runs before pins
    pin: str | None = None
    #: part key -> sha256 of that part (see ``stageline.pins``)
    pin_parts: dict[str, str] | None = None

    @classmethod
    def from_row(cls, row: GateRunRow) -> GateRunRecord:
        return cls(
            id=row.id,
            environment=row.environment,
            digest=row.digest,
            gate=row.gate,
            kind=row.kind,
            status=row.status,  # type: ignore[arg-type]  # the CHECK constraint guarantees it
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration=row.duration,
            summary=row.summary,
            evidence=json.loads(row.evidence),
            report_path=row.report_path,
            actor=row.actor,
            pin=row.pin,
            pin_parts=json.loads(row.pin_parts) if row.pin_parts else None,
        )


@dataclass(frozen=True)
class VerdictRecord:
    """An approval or rejection of one digest in one environment by one person."""

    id: int
    environment: str
    digest: str
    person: str
    kind: VerdictKind
    note: str
    at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: VerdictRow) -> VerdictRecord:
        return cls(
            id=row.id,
            environment=row.environment,
            digest=row.digest,
            person=row.person,
            kind=row.kind,  # type: ignore[arg-type]
            note=row.note,
            at=row.at,
            withdrawn_at=row.withdrawn_at,
        )
