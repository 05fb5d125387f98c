"""Gate runs and verdicts (approvals, rejections): what sign-off is decided from.

Both are bound to one digest in one environment; nothing here decides anything (see
``stageline.decisions.signoff``). Kept apart from ``models.py`` so each file holds one subject.

Each row is chained into the audit log: the store writes it together with an event whose
``data["record"]`` holds ``{"table", "id", "hash"}`` (``hash`` is :func:`record_hash` of
the row as written), and the row keeps that event's hash in ``event_hash``. A change of
the row (a withdrawal) appends a new event and re-links the row to it. A row no event
vouches for, or whose content no longer gives the hash its event recorded, is not a fact
(``stageline.usecases.audit.check_records``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stageline.state.models import Base, UTCDateTime, canonical_json
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
    #: the pin of the gate configuration the run was produced under (stageline.decisions.pins)
    pin: Mapped[str | None] = mapped_column(String(80))
    pin_parts: Mapped[str | None] = mapped_column(Text)
    #: the hash of the audit event that recorded this row as it is (None: not chained)
    event_hash: Mapped[str | None] = mapped_column(String(64))


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
    #: the hash of the audit event that recorded this row as it is (None: not chained)
    event_hash: Mapped[str | None] = mapped_column(String(64))


DecisionRow = GateRunRow | VerdictRow
#: the columns a record's hash leaves out: the link to its event
_LINK_COLUMNS = frozenset({"event_hash"})


def record_content(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """The hashed content of a decision row: its table and every column but the link,
    times as UTC ISO text, NULLs left out (so a column added later, e.g. a signature,
    is covered once set and leaves the rows written before it unchanged)."""
    content: dict[str, Any] = {"table": table}
    for name, value in values.items():
        if name in _LINK_COLUMNS or value is None:
            continue
        if isinstance(value, datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite keeps no zone
            value = aware.astimezone(UTC).isoformat(timespec="microseconds")
        content[name] = value
    return content


def record_hash(table: str, values: dict[str, Any]) -> str:
    """sha256 (hex) of :func:`record_content`; what a decision event vouches for."""
    return hashlib.sha256(canonical_json(record_content(table, values)).encode()).hexdigest()


def row_values(row: DecisionRow) -> dict[str, Any]:
    """Every column of ``row`` by name, as the ORM holds it."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def row_hash(row: DecisionRow) -> str:
    return record_hash(row.__tablename__, row_values(row))


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
    #: part key -> sha256 of that part (see ``stageline.decisions.pins``)
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


@dataclass(frozen=True)
class RecordLink:
    """A decision row as stored, for checking it against the audit chain: ``computed`` is
    the hash its content gives now, ``event_hash`` the event it claims vouches for it."""

    table: str
    id: int
    environment: str
    digest: str
    event_hash: str | None
    computed: str

    @classmethod
    def from_row(cls, row: DecisionRow) -> RecordLink:
        return cls(
            row.__tablename__, row.id, row.environment, row.digest, row.event_hash, row_hash(row)
        )
