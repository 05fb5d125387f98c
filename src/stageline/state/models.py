"""The state store's tables, as SQLAlchemy 2 typed models.

These classes stay inside the ``state`` package: the store hands out the frozen records
at the bottom of this module instead. The schema itself is owned by the Alembic
migrations in ``migrations/versions``; a change here needs a new migration there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DeploymentKind = Literal["deploy", "promote", "rollback", "force"]
DeploymentStatus = Literal["in_progress", "succeeded", "failed", "rolled_back"]
DEPLOYMENT_KINDS: tuple[DeploymentKind, ...] = ("deploy", "promote", "rollback", "force")
DEPLOYMENT_STATUSES: tuple[DeploymentStatus, ...] = (
    "in_progress",
    "succeeded",
    "failed",
    "rolled_back",
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out timezone-aware in UTC (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: stageline stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Artifact(Base):
    __tablename__ = "artifacts"

    digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    service: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    tag: Mapped[str | None] = mapped_column(String(200), index=True)
    ref: Mapped[str] = mapped_column(String(200))
    commit: Mapped[str] = mapped_column(String(64), index=True)
    commit_time: Mapped[datetime] = mapped_column(UTCDateTime())
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    built_by: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('deploy', 'promote', 'rollback', 'force')", name="ck_deployments_kind"
        ),
        CheckConstraint(
            "status IN ('in_progress', 'succeeded', 'failed', 'rolled_back')",
            name="ck_deployments_status",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100), index=True)
    digest: Mapped[str] = mapped_column(ForeignKey("artifacts.digest"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id"))
    detail: Mapped[str] = mapped_column(Text, default="")
    #: the schema revision of the environment's database after this deploy (None: unknown)
    schema_revision: Mapped[str | None] = mapped_column(String(500), default=None)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str | None] = mapped_column(String(100), index=True)
    digest: Mapped[str | None] = mapped_column(String(80), index=True)
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Lock(Base):
    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    token: Mapped[str] = mapped_column(String(100))


# -- records handed out by the store ---------------------------------------------------


@dataclass(frozen=True)
class ArtifactRecord:
    """A built artifact: ``digest`` is ``sha256:<hex>`` of its canonical manifest."""

    digest: str
    service: str
    version: str
    tag: str | None
    ref: str
    commit: str
    commit_time: datetime
    built_at: datetime
    built_by: str
    host: str
    size_bytes: int
    path: str

    @property
    def name(self) -> str:
        """What people call this release everywhere (CLI, JSON, ``--to``): the tag it was
        built from, else its package version (a version may name several builds)."""
        return self.tag or self.version

    @classmethod
    def from_row(cls, row: Artifact) -> ArtifactRecord:
        return cls(
            digest=row.digest,
            service=row.service,
            version=row.version,
            tag=row.tag,
            ref=row.ref,
            commit=row.commit,
            commit_time=row.commit_time,
            built_at=row.built_at,
            built_by=row.built_by,
            host=row.host,
            size_bytes=row.size_bytes,
            path=row.path,
        )


@dataclass(frozen=True)
class DeploymentRecord:
    """One attempt to run a digest in an environment."""

    id: int
    environment: str
    digest: str
    kind: DeploymentKind
    status: DeploymentStatus
    actor: str
    started_at: datetime
    finished_at: datetime | None
    previous_id: int | None
    detail: str
    #: the database's schema revision read after the release started (None: unknown)
    schema_revision: str | None = None

    @classmethod
    def from_row(cls, row: Deployment) -> DeploymentRecord:
        return cls(
            id=row.id,
            environment=row.environment,
            digest=row.digest,
            kind=row.kind,  # type: ignore[arg-type]  # the CHECK constraint guarantees it
            status=row.status,  # type: ignore[arg-type]
            actor=row.actor,
            started_at=row.started_at,
            finished_at=row.finished_at,
            previous_id=row.previous_id,
            detail=row.detail,
            schema_revision=row.schema_revision,
        )


@dataclass(frozen=True)
class EventRecord:
    """One entry of the append-only audit log; ``hash`` chains it to the one before."""

    id: int
    at: datetime
    actor: str
    kind: str
    environment: str | None
    digest: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Event) -> EventRecord:
        return cls(
            id=row.id,
            at=row.at,
            actor=row.actor,
            kind=row.kind,
            environment=row.environment,
            digest=row.digest,
            data=json.loads(row.data),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )

    def computed_hash(self) -> str:
        """The hash this event must have given its fields and ``prev_hash``."""
        return event_hash(
            self.prev_hash,
            at=self.at,
            actor=self.actor,
            kind=self.kind,
            environment=self.environment,
            digest=self.digest,
            data=self.data,
        )


# -- the audit log's hash chain ----------------------------------------------------------

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event."""


def canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value`` that hashes are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(
    prev_hash: str,
    *,
    at: datetime,
    actor: str,
    kind: str,
    environment: str | None,
    digest: str | None,
    data: dict[str, Any],
) -> str:
    """sha256 (hex) over the previous event's hash and this event's canonical JSON."""
    body = canonical_json(
        {
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "kind": kind,
            "environment": environment,
            "digest": digest,
            "data": data,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()
