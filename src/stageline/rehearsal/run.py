"""One rehearsal: clone, baseline, upgrade under trace and probes, downgrade, compare,
upgrade again; the scratch database is always dropped at the end.

``rehearse(plan)`` makes the copy itself (the tests' and the bench's way);
``rehearse_on(plan, how, production)`` runs on a copy made already (the gate makes it
with ``stageline.rehearsal.isolation.isolate``, whose role the tool then uses through
``Plan.tool_url``). ``judge.judge`` decides.

Nothing the tool says is trusted: after each step the copy's revision is read and
compared with where the step should have brought it (``prepare`` and ``downgrade``:
the rollback target; ``upgrade``: past production's revision whenever there is
something to apply; ``upgrade again``: where the upgrade got). A copy that did not move
fails the step: the tool ran somewhere else.

When production has no revision yet (``Migrator.initial``) the release is a first
release: the copy is an empty database, the upgrade is proven from it, and there is no
earlier release to roll back to, unless a ``floor`` is set: then the rollback to the
floor is rehearsed. Otherwise the rollback target is production's revision, or the
floor when the upgrade applied it (production is older than the floor): the schema and
data comparison needs a baseline, so it is made only for a rollback to production's
revision.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Literal

import psycopg

from stageline.rehearsal import checksums, statement_log
from stageline.rehearsal.attribution import join
from stageline.rehearsal.compat import previous_release_breaks
from stageline.rehearsal.facts import (
    Budgets,
    CompatIssue,
    ProbeStall,
    RehearsalFacts,
    Statement,
    StepOutcome,
    Trace,
)
from stageline.rehearsal.fingerprint import (
    DataLoss,
    SchemaChange,
    TableData,
    data_diff,
    key,
    schema_diff,
    schema_fingerprint,
)
from stageline.rehearsal.isolation import CloneMethod, drop_copy, make_copy
from stageline.rehearsal.probes import LongReader, Probes
from stageline.rehearsal.tools import (
    Migrator,
    applied,
    production_revision,
    with_floor,
)
from stageline.rehearsal.tracer import APPLICATION, Tracer
from stageline.services.postgres import database_url

#: tables of the migration tools themselves: probed and compared like any other? No:
#: their content is the tool's bookkeeping, which a rehearsal changes on purpose.
BOOKKEEPING = frozenset({"alembic_version", "django_migrations"})
DID_NOT_MOVE = "the copy did not move: does the tool read other variables?"


@dataclass
class Plan:
    #: a maintenance database on the server that holds the source and gets the scratch copy
    admin_url: str
    source: str
    method: CloneMethod
    migrator: Migrator
    production_url: str | None = None
    #: folder of pg_dump / pg_restore matching the server (method "dump")
    pg_bin: str = ""
    budgets: Budgets = field(default_factory=Budgets)
    probe_interval: float = 0.02
    stall_threshold_ms: float = 15.0
    trace_interval: float = 0.01
    max_probed_tables: int = 20
    scratch: str = field(default_factory=lambda: f"stageline_rehearsal_{uuid.uuid4().hex[:10]}")
    source_note: str = ""
    #: rehearse as if a reader of this many ms held every table when the upgrade starts
    long_reader_ms: float = 0.0
    #: the URL the tool gets (the copy's own role); default the admin URL of the copy
    tool_url: str | None = None
    #: the oldest revision a rollback must reach (see the module docstring)
    floor: str | None = None
    #: production's table sizes (bytes) when known otherwise than from production_url
    production_sizes: dict[str, int] | None = None
    #: "touched": checksum in full only what the migration touched (``checksums``);
    #: "full": every table in full, one after the other (the earlier way, for comparison)
    checksums: Literal["touched", "full"] = "touched"
    #: log the copy's statements (``statement_log``) and join them with the samples
    statement_log: bool = True


def first_release(migrator: Migrator, revision: str) -> bool:
    """Whether production's ``revision`` means it has no schema of this tool yet."""
    return migrator.reads_revision and revision == migrator.initial


def rehearse(plan: Plan) -> RehearsalFacts:
    """Make the scratch copy, run one rehearsal on it, drop it whatever happens."""
    production = production_revision(plan.migrator, plan.production_url)
    method: CloneMethod = "empty" if first_release(plan.migrator, production[0]) else plan.method
    try:
        how, seconds = make_copy(plan.admin_url, plan.source, plan.scratch, method, plan.pg_bin)
        facts = rehearse_on(plan, f"{how}, {seconds:.1f}s", production)
        facts.timings["clone"] = round(seconds, 3)
        return facts
    finally:
        drop_copy(plan.admin_url, plan.scratch)


def _baseline(
    url: str, whole: bool, plan: Plan
) -> tuple[dict[str, dict[str, str]], dict[str, TableData], dict[str, int]]:
    """The schema, the data (every table in full when ``whole``, else big tables sampled)
    and the write counters before the upgrade."""
    with psycopg.connect(url, autocommit=True) as conn:
        schema = schema_fingerprint(conn)
    listed = [t for t in checksums.tables(url) if key(t[1], t[2]) not in BOOKKEEPING]
    workers = 1 if plan.checksums == "full" else 3
    if whole:
        legacy = plan.checksums == "full"
        data = checksums.fingerprints(url, listed, workers=workers, legacy=legacy)
    else:
        data = checksums.fingerprints(url, listed, full=set(), small="count", workers=workers)
    counts = checksums.write_counts(url)  # also flushes our reads before the tracer's snapshot
    return schema, data, counts


def _schema(url: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return schema_fingerprint(conn)


def checked(
    step: StepOutcome, *, expected: str | None = None, past: str | None = None
) -> StepOutcome:
    """``step`` failed as "did not move" when the copy is not at ``expected``, or still at
    ``past`` (a revision the step had to leave). Pure."""
    if not step.ok:
        return step
    if expected is not None and step.reached != expected:
        return replace(step, ok=False, moved=False, expected=expected)
    if past is not None and step.reached == past:
        return replace(step, ok=False, moved=False, expected=f"past {past}")
    return replace(step, expected=expected or (f"past {past}" if past else ""))


@dataclass
class _Run:
    """What one rehearsal gathers on its way, turned into ``RehearsalFacts`` at any exit."""

    plan: Plan
    how: str
    target: str
    head: str
    notes: list[str]
    first: bool = False
    steps: list[StepOutcome] = field(default_factory=list)
    trace: Trace | None = None
    stalls: list[ProbeStall] = field(default_factory=list)
    schema: list[SchemaChange] = field(default_factory=list)
    losses: list[DataLoss] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    upgrade_ms: float = 0.0
    rollback: str = ""
    compat: list[CompatIssue] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: the baseline read every table in full (else: counts and samples, see ``checksums``)
    whole: bool = True

    def facts(self) -> RehearsalFacts:
        plan = self.plan
        return RehearsalFacts(
            tool=plan.migrator.name, source=plan.source, clone_method=self.how,
            production_revision=self.target, head_revision=self.head, steps=self.steps,
            trace=self.trace or Trace(), stalls=self.stalls, schema_changes=self.schema,
            data_losses=self.losses, clone_sizes=self.sizes,
            production_sizes=(
                plan.production_sizes if plan.production_sizes is not None
                else checksums.sizes(plan.production_url)
            ),
            upgrade_ms=self.upgrade_ms, notes=self.notes, first_release=self.first,
            rollback_revision=self.rollback, compat=self.compat, timings=self.timings,
        )  # fmt: skip


def rehearse_on(plan: Plan, how: str, production: tuple[str, str]) -> RehearsalFacts:
    """One rehearsal on the existing copy ``plan.scratch``; ``production`` is
    ``production_revision``'s (revision, note)."""
    url = database_url(plan.admin_url, plan.scratch)
    tool_url = plan.tool_url or url
    migrator = plan.migrator
    target, note = production
    notes = [plan.source_note] if plan.source_note else []
    notes += [note] if note else []
    run = _Run(plan, how, target, migrator.current(tool_url), notes)
    run.first = first_release(migrator, target)
    if run.first:
        notes.append("first release: the upgrade is proven from an empty database")
    elif run.head != target:
        prepare = migrator.downgrade(tool_url, target, "prepare")
        prepare = checked(replace(prepare, command=run.head), expected=target)
        run.steps.append(prepare)
        if not prepare.ok:
            return run.facts()
        notes.append(f"the copy was at {run.head}: brought to production's {target} first")
    prepared = run.head != target
    # the source is the copy's starting point only for a template copy not moved since
    run.whole = plan.checksums == "full" or prepared or plan.method != "template"
    with _timed(run, "checksums"):
        baseline_schema, baseline_data, counts = _baseline(url, run.whole, plan)
    upgrade = _traced_upgrade(run, url, tool_url, baseline_data)
    upgrade = checked(upgrade, past=target if prepared or run.first or upgrade.step else None)
    run.steps.append(upgrade)
    if not upgrade.ok:
        return run.facts()
    run.head = upgrade.reached or run.head
    if run.head == target:
        notes.append("no migration between production's revision and the candidate's head")
    upgraded_schema = _schema(url)
    if not run.first:
        run.compat = previous_release_breaks(baseline_schema, upgraded_schema)
    run.rollback = _rollback_target(run, upgrade)
    if not run.rollback:
        notes.append("no earlier release to roll back to: the rollback is not rehearsed")
        return run.facts()
    with _timed(run, "downgrade"):
        downgrade = migrator.downgrade(tool_url, run.rollback, "downgrade")
    downgrade = checked(downgrade, expected=run.rollback)
    run.steps.append(downgrade)
    if not downgrade.ok:
        return run.facts()
    if run.rollback == target:
        with _timed(run, "checksums"):
            run.schema = schema_diff(baseline_schema, _schema(url))
            before, after = _round_trip(run, url, baseline_data, counts)
            run.losses = data_diff(before, after)
    again = checked(migrator.upgrade(tool_url, "upgrade again"), expected=run.head)
    run.steps.append(again)
    return run.facts()


@contextmanager
def _timed(run: _Run, name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        spent = time.monotonic() - started
        run.timings[name] = round(run.timings.get(name, 0.0) + spent, 3)


def _round_trip(
    run: _Run, url: str, baseline: dict[str, TableData], counts: dict[str, int]
) -> tuple[dict[str, TableData], dict[str, TableData]]:
    """(before, after) data to compare: a baseline read in full against the copy read in
    full; otherwise untouched tables as the baseline read them (counted, big ones
    sampled) and touched ones in full, on the copy and in the source at the same time
    (see ``checksums``)."""
    listed = [t for t in checksums.tables(url) if key(t[1], t[2]) in baseline]
    workers = 1 if run.plan.checksums == "full" else 3
    if run.whole:
        legacy = run.plan.checksums == "full"
        return baseline, checksums.fingerprints(url, listed, workers=workers, legacy=legacy)
    trace = run.trace or Trace()
    now = checksums.write_counts(url, settle=APPLICATION)  # the downgrade's writes too
    moved = checksums.touched(trace) | checksums.written(counts, now)
    moved = checksums.neighbours(url, moved) & set(baseline)
    source = database_url(run.plan.admin_url, run.plan.source)
    jobs: list[tuple[str, list[checksums.Table], set[str] | None]] = [
        (url, listed, moved), (source, [t for t in listed if key(t[1], t[2]) in moved], None),
    ]  # fmt: skip
    with ThreadPoolExecutor(2, thread_name_prefix="rehearsal-round-trip") as pool:
        after, before = pool.map(
            lambda job: checksums.fingerprints(
                job[0], job[1], full=job[2], small="count", workers=workers
            ),
            jobs,
        )
    if moved:
        run.notes.append(
            f"data compared in full for the tables the migration touched: "
            f"{', '.join(sorted(moved))}; the others by row count (and a sample of big ones)"
        )
    return {**baseline, **before}, after


def _rollback_target(run: _Run, upgrade: StepOutcome) -> str:
    """Production's revision, or the floor when the upgrade applied it (production is
    older), or, on a first release, the floor if any; "" for no rollback at all."""
    floor = run.plan.floor
    if run.first:
        if floor:
            run.notes.append(f"first release: the rollback is rehearsed down to the floor {floor}")
        return floor or ""
    if floor and set(floor.split(",")) <= set(applied(upgrade.output)) | {run.head}:
        run.notes.append(
            f"production's {run.target} is older than the floor {floor}: the rollback is "
            f"rehearsed down to the floor (the schema and data comparison needs production's "
            "revision, so it is not made)"
        )
        return with_floor(run.target, floor)
    return run.target


def _traced_upgrade(
    run: _Run, url: str, tool_url: str, baseline: dict[str, TableData]
) -> StepOutcome:
    """The upgrade, with the tracer, the probes and the optional long reader running."""
    plan = run.plan
    run.sizes = {table: data.size for table, data in baseline.items()}
    tables = sorted(baseline, key=lambda t: -baseline[t].size)
    probed = sorted(tables[: plan.max_probed_tables])
    if len(tables) > len(probed):
        run.notes.append(f"probed the {len(probed)} biggest of {len(tables)} tables")
    rows = {table: data.rows for table, data in baseline.items()}
    logging = plan.statement_log and statement_log.enable(plan.admin_url, plan.scratch)
    server_log = statement_log.ServerLog(plan.admin_url)
    if logging:
        server_log.start()
    tracer = Tracer(url, interval=plan.trace_interval, rows=rows)
    probes = Probes(url, probed, interval=plan.probe_interval)
    reader = LongReader(url, probed, plan.long_reader_ms) if plan.long_reader_ms > 0 else None
    if reader is not None:
        reader.start()
        reader.ready.wait(10)
        run.notes.append(
            f"a reader holding every table for {plan.long_reader_ms:.0f} ms was running "
            "when the upgrade started"
        )
    t0 = time.monotonic()
    tracer.start(t0)
    try:
        probes.start(t0)
        upgrade = plan.migrator.upgrade(tool_url, "upgrade")
        run.upgrade_ms = (time.monotonic() - t0) * 1000.0
    finally:
        run.stalls = probes.stop(threshold=plan.stall_threshold_ms)
        trace = tracer.stop()
    run.timings["migration"] = round(run.upgrade_ms / 1000.0, 3)
    if reader is not None:
        reader.join()
    if tracer.error:
        run.notes.append(f"the tracer stopped early: {tracer.error}")
    ours = {tracer.pid, *probes.pids, *([reader.pid] if reader is not None else [])}
    run.trace = join(trace, _logged(run, server_log if logging else None, ours, tracer))
    return upgrade


def _logged(
    run: _Run, server_log: statement_log.ServerLog | None, ours: set[int], tracer: Tracer
) -> list[Statement] | None:
    """The migration's statements from the copy's log, or None (with a note) without."""
    if server_log is None:
        why = "it needs a superuser" if run.plan.statement_log else "statement_log = false"
        run.notes.append(
            f"the statement log is off ({why}): locks shorter than a sample may be missed"
        )
        return None
    text = server_log.read()
    logged = statement_log.parse(
        text, ours, tracer.mark_ms, run.upgrade_ms + 1000.0,
        theirs=tracer.pids, strangers=server_log.copy_only,
    )  # fmt: skip
    if not logged.readable:
        run.notes.append(
            server_log.error
            or "the statement log was not readable (log_line_prefix other "
            "than the default '%m [%p] '?): locks shorter than a sample may be missed"
        )
        return None
    return logged.statements
