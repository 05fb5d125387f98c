"""What a rehearsal observed: plain data, produced by the tracer, the probes and the run,
and judged by ``judge`` (which does no I/O). Times are milliseconds since the upgrade
started."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # psycopg stays unimported for `stageline check` (gates' Budgets)
    from stageline.rehearsal.fingerprint import DataLoss, SchemaChange


@dataclass(frozen=True)
class LockSpan:
    """The migrating session held (or waited for) ``mode`` on ``relation`` from ``start``
    to ``end``; ``statement`` is what it was running when the span began."""

    relation: str
    kind: str  # "table", "index", "sequence", "view", "other" or "new" (created meanwhile)
    mode: str  # e.g. "AccessExclusiveLock"
    granted: bool
    start: float
    end: float
    statement: str = ""
    #: "sampled" (seen in pg_locks) or "log" (known from the statement log: the lock the
    #: logged statement takes, held to the end of its transaction)
    source: str = "sampled"

    @property
    def ms(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Statement:
    """A statement the migrating session was seen running (sampled), from ``start`` to ``end``."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class TableWork:
    """Work in proportion to ``table`` (``kind`` "rewrite", "scan" or "build": measured,
    then charged to ``statement``), from ``start`` to ``end``, while the migration held
    ``mode`` on the table (the strongest lock held during it, "" when none is known)."""

    table: str
    kind: str
    statement: str
    start: float
    end: float
    mode: str = ""

    @property
    def ms(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Trace:
    """What the tracer saw of the migrating session."""

    locks: list[LockSpan] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)
    #: tables whose file node changed (rewritten), with the statement that did it if known
    rewrites: dict[str, str] = field(default_factory=dict)
    #: tables read in full (sequential scans that read at least as many rows as the table had)
    full_scans: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    #: old name -> new name
    renamed: dict[str, str] = field(default_factory=dict)
    samples: int = 0
    #: the longest gap between two samples, in ms (the resolution actually reached)
    worst_gap_ms: float = 0.0
    #: whether the migrating session was seen setting a lock_timeout
    lock_timeout_seen: bool = False
    #: whether the copy's statement log was read and joined (see ``statement_log``)
    logged: bool = False
    #: the table-proportional work of the migration, charged to its statements
    work: list[TableWork] = field(default_factory=list)


@dataclass(frozen=True)
class ProbeStall:
    """How long reads and writes of one table were stalled (ms, union of the slow probes)."""

    table: str
    read_ms: float
    write_ms: float
    total_ms: float
    #: (start, end) of the stalled windows, for attribution
    windows: list[tuple[float, float]] = field(default_factory=list)
    operations: int = 0
    note: str = ""
    #: every slow probe, (start, end): the judge keeps those a lock of the migration explains
    slow_reads: list[tuple[float, float]] = field(default_factory=list)
    slow_writes: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class StepOutcome:
    """One tool command: ok, its output's tail, and where it stopped."""

    name: str  # "upgrade", "downgrade", "upgrade again", "prepare"
    ok: bool
    seconds: float
    output: str = ""
    command: str = ""
    #: the migration step the tool reported last (e.g. "0003 -> 0002")
    step: str = ""
    #: the revision(s) the database is at afterwards, as the tool records them
    reached: str = ""
    #: where the step should have brought the copy ("past X" for an upgrade), when checked
    expected: str = ""
    #: False when the copy is not where the step should have brought it: the tool ran
    #: somewhere else (the step then counts as failed)
    moved: bool = True


@dataclass(frozen=True)
class Waiver:
    """A finding accepted on purpose: its message contains ``match`` (case-insensitive),
    for ``reason``, until ``expires`` (inclusive)."""

    match: str
    reason: str
    expires: date


@dataclass(frozen=True)
class CompatIssue:
    """Something in the upgraded schema the previous release's code cannot cope with:
    ``kind`` "not-null" (a column it does not know, or did not have to fill, is NOT NULL
    without a default) or "missing" (a column it has is gone: dropped or renamed)."""

    table: str
    column: str
    kind: str


@dataclass(frozen=True)
class Budgets:
    max_stall_ms: float | None = None
    max_stall_ms_per_table: float | None = None
    allow_rewrite: frozenset[str] = frozenset()
    allow_access_exclusive: frozenset[str] = frozenset()
    #: tables at least this big (bytes, production's size where known) need the allowances
    size_threshold: int = 0
    allow_data_loss: frozenset[str] = frozenset()  # "table.column" or "table"
    lock_timeout_ms: float = 2000.0
    waivers: tuple[Waiver, ...] = ()
    #: fail when a lock that blocks writes (or reads) is held while the table is
    #: rewritten, read in full or indexed for longer than this, projected to production's
    #: size (ms; None: not judged)
    max_blocking_ms: float | None = None
    #: the rate the projection assumes when the copy is too small to time the work
    work_mb_per_s: float = 100.0


@dataclass(frozen=True)
class RehearsalFacts:
    """Everything one rehearsal established, ready to be judged."""

    tool: str
    source: str  # "revision at production" -> "candidate head", as text
    clone_method: str
    production_revision: str
    head_revision: str
    steps: list[StepOutcome]
    trace: Trace
    stalls: list[ProbeStall]
    schema_changes: list[SchemaChange]
    data_losses: list[DataLoss]
    #: table -> bytes in the clone, and in production where known
    clone_sizes: dict[str, int] = field(default_factory=dict)
    production_sizes: dict[str, int] = field(default_factory=dict)
    upgrade_ms: float = 0.0
    notes: list[str] = field(default_factory=list)
    #: production has no revision yet: the upgrade is proven from an empty database
    first_release: bool = False
    #: the revision the rollback was rehearsed to (production's, or the floor)
    rollback_revision: str = ""
    #: what the upgraded schema breaks for the release running now
    compat: list[CompatIssue] = field(default_factory=list)
    #: seconds spent per part: "clone", "checksums", "migration", "downgrade"
    timings: dict[str, float] = field(default_factory=dict)
