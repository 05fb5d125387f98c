"""The state store: artifacts, deployments, the audit log and locks.

A SQLite file by default (``sqlite:///path/state.db``), or a PostgreSQL database shared
by a team (``postgresql://user@host/db``, driven by psycopg 3). Opening a store creates
it and migrates it to the newest schema; concurrent first opens are serialized by the
backend's own lock. Everything that comes out is a frozen record, never an ORM object,
and every time is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stageline.errors import ArtifactNotFound, StoreError
from stageline.state import locks
from stageline.state.models import (
    DEPLOYMENT_KINDS,
    DEPLOYMENT_STATUSES,
    GENESIS_HASH,
    Artifact,
    ArtifactRecord,
    Deployment,
    DeploymentKind,
    DeploymentRecord,
    DeploymentStatus,
    Event,
    EventRecord,
    canonical_json,
    event_hash,
)
from stageline.state.secrets import Vault
from stageline.state.snapshots import SnapshotRecord, SnapshotRow
from stageline.state.verification import (
    DecisionRow,
    GateRunRecord,
    GateRunRow,
    GateStatus,
    RecordLink,
    VerdictKind,
    VerdictRecord,
    VerdictRow,
    row_hash,
)

Backend = Literal["sqlite", "postgresql"]
MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = "stageline:migrate"
EVENTS_LOCK = "stageline:events"
_SQLITE_BUSY_MS = 30_000


class Store:
    """The state store. Open with :meth:`open`; close, or use as a context manager."""

    def __init__(self, url: str, backend: Backend, engine: Engine) -> None:
        self.url = url
        self.backend: Backend = backend
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating and migrating to the newest schema if needed) the store at ``url``."""
        backend, sa_url = _parse_url(url)
        engine = _make_engine(backend, sa_url)
        try:
            migrate(engine)
        except (SQLAlchemyError, CommandError) as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open the state store {sa_url.render_as_string(hide_password=True)}:"
                f" {exc}".strip(),
                hint="check the URL and that the database is reachable; a schema newer than"
                " this stageline needs a newer stageline",
            ) from exc
        return cls(url, backend, engine)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.backend}: {make_url(self.url).render_as_string()})"

    @property
    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at."""
        with self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            raise StoreError(f"state store error: {exc}".strip()) from exc

    # -- artifacts --------------------------------------------------------------

    def add_artifact(self, rec: ArtifactRecord) -> None:
        """Record an artifact; adding a digest that is already there changes nothing."""
        try:
            with self._tx() as session:
                if session.get(Artifact, rec.digest) is None:
                    session.add(Artifact(**asdict(rec)))
        except IntegrityError:
            if self.get_artifact(rec.digest) is None:  # not a concurrent add of the same
                raise

    def get_artifact(self, digest: str) -> ArtifactRecord | None:
        with self._tx() as session:
            row = session.get(Artifact, digest)
            return ArtifactRecord.from_row(row) if row else None

    def find_artifacts(
        self,
        *,
        tag: str | None = None,
        commit: str | None = None,
        digest_prefix: str | None = None,
    ) -> list[ArtifactRecord]:
        """Artifacts matching every given filter, newest first.

        ``digest_prefix`` may omit the ``sha256:`` part; ``commit`` may be a prefix too.
        """
        query = select(Artifact)
        if tag is not None:
            query = query.where(Artifact.tag == tag)
        if commit is not None:
            query = query.where(Artifact.commit.startswith(commit, autoescape=True))
        if digest_prefix is not None:
            if not digest_prefix.startswith("sha256:"):
                digest_prefix = "sha256:" + digest_prefix
            query = query.where(Artifact.digest.startswith(digest_prefix, autoescape=True))
        return self._artifacts(query)

    def list_artifacts(self, limit: int | None = None) -> list[ArtifactRecord]:
        """Every artifact (the newest ``limit`` when given), newest build first."""
        return self._artifacts(select(Artifact), limit)

    def _artifacts(self, query: Any, limit: int | None = None) -> list[ArtifactRecord]:
        query = query.order_by(Artifact.built_at.desc(), Artifact.digest).limit(limit)
        with self._tx() as session:
            return [ArtifactRecord.from_row(row) for row in session.scalars(query)]

    # -- deployments ------------------------------------------------------------

    def start_deployment(
        self, environment: str, digest: str, *, actor: str, kind: DeploymentKind
    ) -> DeploymentRecord:
        """Record a deployment in progress; it points at the environment's current one."""
        if kind not in DEPLOYMENT_KINDS:
            raise ValueError(f"unknown deployment kind {kind!r}; valid: {DEPLOYMENT_KINDS}")
        with self._tx() as session:
            if session.get(Artifact, digest) is None:
                raise ArtifactNotFound(digest)
            current = session.scalars(_current_query(environment)).first()
            row = Deployment(
                environment=environment,
                digest=digest,
                kind=kind,
                status="in_progress",
                actor=actor,
                started_at=_now(),
                finished_at=None,
                previous_id=current.id if current else None,
                detail="",
            )
            session.add(row)
            session.flush()
            return DeploymentRecord.from_row(row)

    def finish_deployment(
        self, deployment_id: int, status: DeploymentStatus, detail: str = ""
    ) -> DeploymentRecord:
        """End a deployment (or mark a succeeded one ``rolled_back``)."""
        if status not in DEPLOYMENT_STATUSES or status == "in_progress":
            raise ValueError(f"cannot finish a deployment as {status!r}")
        with self._tx() as session:
            row = session.get(Deployment, deployment_id, with_for_update=True)
            if row is None:
                raise StoreError(f"no deployment with id {deployment_id}")
            allowed = row.status == "in_progress" or (
                row.status == "succeeded" and status == "rolled_back"
            )
            if not allowed:
                raise StoreError(
                    f"deployment {deployment_id} is {row.status}; it cannot become {status}"
                )
            row.status = status
            row.finished_at = _now()
            row.detail = detail
            session.flush()
            return DeploymentRecord.from_row(row)

    def record_schema_revision(self, deployment_id: int, revision: str | None) -> None:
        """Remember the schema revision ``deployment_id``'s database was at after it."""
        with self._tx() as session:
            row = session.get(Deployment, deployment_id)
            if row is None:
                raise StoreError(f"no deployment with id {deployment_id}")
            row.schema_revision = revision

    def current_deployment(self, environment: str) -> DeploymentRecord | None:
        """The environment's latest succeeded deployment."""
        with self._tx() as session:
            row = session.scalars(_current_query(environment)).first()
            return DeploymentRecord.from_row(row) if row else None

    def deployments(
        self,
        environment: str | None = None,
        limit: int = 50,
        *,
        digest: str | None = None,
        status: DeploymentStatus | None = None,
    ) -> list[DeploymentRecord]:
        """Deployments, newest first (of one digest, or with one status, when given)."""
        query = select(Deployment).order_by(Deployment.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(Deployment.environment == environment)
        if digest is not None:
            query = query.where(Deployment.digest == digest)
        if status is not None:
            query = query.where(Deployment.status == status)
        with self._tx() as session:
            return [DeploymentRecord.from_row(row) for row in session.scalars(query)]

    # -- verification: gate runs and verdicts ----------------------------------

    def record_gate_run(
        self,
        environment: str,
        digest: str,
        gate: str,
        *,
        kind: str,
        status: GateStatus,
        started_at: datetime,
        duration: float,
        summary: str,
        evidence: dict[str, Any],
        report_path: str | None,
        actor: str,
        pin: str | None = None,
        pin_parts: Mapping[str, str] | None = None,
    ) -> GateRunRecord:
        """Store one gate's result, bound to the digest and the environment it ran against,
        and to the pin of the gate configuration it ran under (``stageline.decisions.pins``), with
        its ``gate.<status>`` audit event in the same transaction (chained: see
        ``state/verification.py``)."""
        with self._tx() as session:
            row = GateRunRow(
                environment=environment,
                digest=digest,
                gate=gate,
                kind=kind,
                status=status,
                started_at=started_at,
                finished_at=_now(),
                duration=duration,
                summary=summary,
                evidence=canonical_json(evidence),
                report_path=report_path,
                actor=actor,
                pin=pin,
                pin_parts=canonical_json(dict(pin_parts)) if pin_parts is not None else None,
            )
            session.add(row)
            self._chain_row(
                session,
                row,
                f"gate.{status}",
                actor=actor,
                data={"gate": gate, "summary": summary},
                id_key="run",
            )
            return GateRunRecord.from_row(row)

    def gate_runs(
        self, environment: str | None = None, digest: str | None = None, limit: int = 500
    ) -> list[GateRunRecord]:
        """Gate runs, newest first."""
        query = select(GateRunRow).order_by(GateRunRow.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(GateRunRow.environment == environment)
        if digest is not None:
            query = query.where(GateRunRow.digest == digest)
        with self._tx() as session:
            return [GateRunRecord.from_row(row) for row in session.scalars(query)]

    def add_verdict(
        self,
        environment: str,
        digest: str,
        *,
        person: str,
        kind: VerdictKind,
        note: str = "",
        proof: Mapping[str, Any] | None = None,
    ) -> VerdictRecord:
        """Record an approval or a rejection of ``digest`` in ``environment``, with its
        ``approve.given`` / ``reject.given`` audit event in the same transaction (carrying
        ``proof``: how the person proved who they are, ``identity.Proof.fields()``).

        Every column of the row is hashed into that event (``record_hash``): a column
        added to ``verdicts`` later (a signature, the signer's key) is covered as soon as
        it is set here."""
        with self._tx() as session:
            row = VerdictRow(
                environment=environment,
                digest=digest,
                person=person,
                kind=kind,
                note=note,
                at=_now(),
                withdrawn_at=None,
            )
            session.add(row)
            self._chain_row(
                session,
                row,
                f"{kind}.given",
                actor=person,
                data={"note": note, **(proof or {})},
                id_key="verdict",
            )
            return VerdictRecord.from_row(row)

    def withdraw_verdicts(
        self,
        environment: str,
        digest: str,
        *,
        person: str,
        kind: VerdictKind,
        proof: Mapping[str, Any] | None = None,
    ) -> int:
        """Withdraw a person's active verdicts of one kind; how many were withdrawn. Each
        withdrawal appends ``<kind>.withdrawn`` and re-links the row to it."""
        query = select(VerdictRow).where(
            VerdictRow.environment == environment,
            VerdictRow.digest == digest,
            VerdictRow.person == person,
            VerdictRow.kind == kind,
            VerdictRow.withdrawn_at.is_(None),
        )
        with self._tx() as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.withdrawn_at = _now()
                self._chain_row(
                    session,
                    row,
                    f"{kind}.withdrawn",
                    actor=person,
                    data=dict(proof or {}),
                    id_key="verdict",
                )
            return len(rows)

    def verdicts(
        self, environment: str | None = None, digest: str | None = None
    ) -> list[VerdictRecord]:
        """Verdicts, oldest first."""
        query = select(VerdictRow).order_by(VerdictRow.id)
        if environment is not None:
            query = query.where(VerdictRow.environment == environment)
        if digest is not None:
            query = query.where(VerdictRow.digest == digest)
        with self._tx() as session:
            return [VerdictRecord.from_row(row) for row in session.scalars(query)]

    # -- audit log --------------------------------------------------------------

    def append_event(
        self,
        kind: str,
        *,
        actor: str,
        environment: str | None = None,
        digest: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventRecord:
        """Append an event to the audit log, chained to the previous one by hash."""
        with self._tx() as session:
            row = self._append(session, kind, actor, environment, digest, data or {})
            return EventRecord.from_row(row)

    def _append(
        self,
        session: Session,
        kind: str,
        actor: str,
        environment: str | None,
        digest: str | None,
        data: dict[str, Any],
    ) -> Event:
        if self.backend == "postgresql":  # SQLite: BEGIN IMMEDIATE serializes already
            session.execute(select(func.pg_advisory_xact_lock(locks.lock_key(EVENTS_LOCK))))
        last = session.scalars(select(Event.hash).order_by(Event.id.desc()).limit(1)).first()
        prev_hash = last or GENESIS_HASH
        at = _now()
        row = Event(
            at=at,
            actor=actor,
            kind=kind,
            environment=environment,
            digest=digest,
            data=canonical_json(data),
            prev_hash=prev_hash,
            hash=event_hash(
                prev_hash,
                at=at,
                actor=actor,
                kind=kind,
                environment=environment,
                digest=digest,
                data=data,
            ),
        )
        session.add(row)
        session.flush()
        return row

    def _chain_row(
        self,
        session: Session,
        row: DecisionRow,
        kind: str,
        *,
        actor: str,
        data: dict[str, Any],
        id_key: str,
    ) -> None:
        """Append the event that vouches for ``row`` as it is now (``data`` plus the row's
        id under ``id_key`` and ``record``: table, id, content hash) and link the row to it."""
        session.flush()  # the row's id
        record = {"table": row.__tablename__, "id": row.id, "hash": row_hash(row)}
        payload = {**data, id_key: row.id, "record": record}
        event = self._append(session, kind, actor, row.environment, row.digest, payload)
        row.event_hash = event.hash
        session.flush()

    def record_links(self) -> list[RecordLink]:
        """Every gate run and verdict as stored, with the hash its content gives now."""
        with self._tx() as session:
            runs: list[DecisionRow] = list(session.scalars(select(GateRunRow)))
            verdicts: list[DecisionRow] = list(session.scalars(select(VerdictRow)))
            return [RecordLink.from_row(row) for row in runs + verdicts]

    def events(
        self, environment: str | None = None, limit: int = 200, *, digest: str | None = None
    ) -> list[EventRecord]:
        """The latest events (of one digest, when given), newest first."""
        query = select(Event).order_by(Event.id.desc()).limit(limit)
        if environment is not None:
            query = query.where(Event.environment == environment)
        if digest is not None:
            query = query.where(Event.digest == digest)
        with self._tx() as session:
            return [EventRecord.from_row(row) for row in session.scalars(query)]

    # -- locks ------------------------------------------------------------------

    @contextmanager
    def lock(self, name: str, *, holder: str) -> Iterator[None]:
        """Hold the named lock for the block; raises LockHeld at once if someone has it."""
        take = locks.postgres_lock if self.backend == "postgresql" else locks.sqlite_lock
        with take(self._engine, name, holder):
            yield

    # -- snapshots (stageline.data) ---------------------------------------------

    def add_snapshot(
        self,
        name: str,
        *,
        source: str,
        environment: str,
        rules_digest: str,
        row_counts: dict[str, int],
        size: int,
        duration: float,
        actor: str,
    ) -> SnapshotRecord:
        """Record a snapshot kept as template database ``name`` on ``environment``'s server."""
        with self._tx() as session:
            row = SnapshotRow(
                name=name,
                source=source,
                environment=environment,
                created_at=_now(),
                rules_digest=rules_digest,
                row_counts=canonical_json(row_counts),
                bytes=size,
                duration=duration,
                actor=actor,
                dropped_at=None,
            )
            session.add(row)
            session.flush()
            return SnapshotRecord.from_row(row)

    def snapshots(
        self, environment: str | None = None, *, include_dropped: bool = False
    ) -> list[SnapshotRecord]:
        """Snapshots, newest first; dropped ones only when asked for."""
        query = select(SnapshotRow).order_by(SnapshotRow.id.desc())
        if environment is not None:
            query = query.where(SnapshotRow.environment == environment)
        if not include_dropped:
            query = query.where(SnapshotRow.dropped_at.is_(None))
        with self._tx() as session:
            return [SnapshotRecord.from_row(row) for row in session.scalars(query)]

    def mark_snapshot_dropped(self, name: str) -> SnapshotRecord | None:
        """Mark a kept snapshot as dropped; None when no kept snapshot has that name."""
        query = select(SnapshotRow).where(
            SnapshotRow.name == name, SnapshotRow.dropped_at.is_(None)
        )
        with self._tx() as session:
            row = session.scalars(query).first()
            if row is None:
                return None
            row.dropped_at = _now()
            session.flush()
            return SnapshotRecord.from_row(row)

    # -- secrets, tokens, the raw audit chain (stageline.usecases.secrets/tokens/audit) ---

    @property
    def vault(self) -> Vault:
        """Encrypted secret rows, token hashes and the raw event chain (state/secrets.py)."""
        return Vault(self._tx)


def _current_query(environment: str) -> Any:
    return (
        select(Deployment)
        .where(Deployment.environment == environment, Deployment.status == "succeeded")
        .order_by(Deployment.id.desc())
        .limit(1)
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_url(url: str) -> tuple[Backend, URL]:
    try:
        sa_url = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    if sa_url.drivername in ("sqlite", "sqlite+pysqlite"):
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        return "sqlite", sa_url
    if sa_url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return "postgresql", sa_url.set(drivername="postgresql+psycopg")
    raise StoreError(
        f"unsupported state store URL {sa_url.render_as_string()!r}",
        hint="use sqlite:///path/to/state.db or postgresql://user@host:port/database",
    )


def _make_engine(backend: Backend, url: URL) -> Engine:
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: read-then-write transactions (locks, the event
        # chain, migrations) are serialized instead of failing on upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic configuration for the shipped migrations (``engine`` to run them on)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there."""
    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as conn:
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
    command.upgrade(config, "head")  # env.py takes the backend's lock first
