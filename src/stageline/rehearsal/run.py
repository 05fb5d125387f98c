"""One rehearsal: clone, baseline, upgrade under trace and probes, downgrade, compare,
upgrade again; the scratch database is always dropped at the end.

``rehearse(plan)`` returns the ``RehearsalFacts``; ``judge.judge`` decides. The clone is
either a ``template`` copy (``CREATE DATABASE ... TEMPLATE``, the snapshots' fast clone:
nobody may be connected to the template) or a ``dump`` (``pg_dump | pg_restore`` with
the server's own binaries, which works while the source database is in use).
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg import sql

from stageline.errors import BackingServiceError
from stageline.rehearsal.facts import Budgets, ProbeStall, RehearsalFacts, StepOutcome, Trace
from stageline.rehearsal.fingerprint import (
    DataLoss,
    SchemaChange,
    TableData,
    data_diff,
    data_fingerprint,
    schema_diff,
    schema_fingerprint,
)
from stageline.rehearsal.probes import LongReader, Probes
from stageline.rehearsal.tools import Migrator, production_revision, table_sizes
from stageline.rehearsal.tracer import Tracer
from stageline.services.postgres import client_connection, database_url

CloneMethod = Literal["template", "dump"]
#: tables of the migration tools themselves: probed and compared like any other? No:
#: their content is the tool's bookkeeping, which a rehearsal changes on purpose.
BOOKKEEPING = frozenset({"alembic_version", "django_migrations"})


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


def clone(plan: Plan) -> tuple[str, float]:
    """Make the scratch database; returns (how, seconds)."""
    started = time.monotonic()
    if plan.method == "template":
        from stageline.data.clone import clone_database

        seconds = clone_database(plan.admin_url, plan.source, plan.scratch)
        return f"template copy of {plan.source} (CREATE DATABASE ... TEMPLATE)", seconds
    with psycopg.connect(plan.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(plan.scratch))
        )
    # the connection strings go on the command line without the password (see
    # client_connection), which travels in each program's environment
    source, source_env = client_connection(database_url(plan.admin_url, plan.source))
    scratch, scratch_env = client_connection(database_url(plan.admin_url, plan.scratch))
    dump = subprocess.Popen(
        [f"{plan.pg_bin}/pg_dump", "-Fc", "-d", source],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **source_env},
    )  # fmt: skip
    restore = subprocess.run(
        [f"{plan.pg_bin}/pg_restore", "--no-owner", "--exit-on-error", "-d", scratch],
        stdin=dump.stdout, capture_output=True, check=False, env={**os.environ, **scratch_env},
    )  # fmt: skip
    assert dump.stdout is not None
    dump.stdout.close()
    dump_err = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
    if dump.wait() != 0 or restore.returncode != 0:
        detail = (dump_err + restore.stderr.decode(errors="replace")).strip()
        raise BackingServiceError(
            f"cannot copy {plan.source} for the rehearsal: {detail[-400:]}",
            hint="pg_dump and pg_restore must match the server's major version",
        )
    return f"pg_dump | pg_restore of {plan.source} (works while it is in use)", (
        time.monotonic() - started
    )


def drop(plan: Plan) -> None:
    with psycopg.connect(plan.admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(plan.scratch))
        )


def _fingerprints(url: str) -> tuple[dict[str, dict[str, str]], dict[str, TableData]]:
    with psycopg.connect(url, autocommit=True) as conn:
        schema = schema_fingerprint(conn)
        data = data_fingerprint(conn)
        if conn.info.server_version >= 150000:
            # our own full reads must count before the tracer's first snapshot: statistics
            # are flushed when a session goes idle, at most once a second unless forced
            conn.execute("SELECT pg_stat_force_next_flush()")
            conn.execute("SELECT 1")
    return schema, {k: v for k, v in data.items() if k not in BOOKKEEPING}


def rehearse(plan: Plan) -> RehearsalFacts:
    """Run one rehearsal on a scratch copy; the copy is dropped whatever happens."""
    how, seconds = clone(plan)
    try:
        return _rehearse(plan, f"{how}, {seconds:.1f}s")
    finally:
        drop(plan)


def _rehearse(plan: Plan, how: str) -> RehearsalFacts:
    url = database_url(plan.admin_url, plan.scratch)
    migrator = plan.migrator
    notes = [plan.source_note] if plan.source_note else []
    target, note = production_revision(migrator, plan.production_url)
    notes += [note] if note else []
    head = migrator.current(url)
    steps: list[StepOutcome] = []

    def facts(
        trace: Trace | None = None,
        *,
        stalls: list[ProbeStall] | None = None,
        schema: list[SchemaChange] | None = None,
        losses: list[DataLoss] | None = None,
        sizes: dict[str, int] | None = None,
        upgrade_ms: float = 0.0,
    ) -> RehearsalFacts:
        return RehearsalFacts(
            tool=migrator.name, source=plan.source, clone_method=how,
            production_revision=target, head_revision=head, steps=steps,
            trace=trace or Trace(), stalls=stalls or [], schema_changes=schema or [],
            data_losses=losses or [], clone_sizes=sizes or {},
            production_sizes=table_sizes(plan.production_url), upgrade_ms=upgrade_ms,
            notes=notes,
        )  # fmt: skip

    if head != target:
        prepare = migrator.downgrade(url, target, "prepare")
        prepare = _with_command(prepare, head)
        steps.append(prepare)
        if not prepare.ok:
            return facts()
        notes.append(f"the copy was at {head}: brought to production's {target} first")
    baseline_schema, baseline_data = _fingerprints(url)
    sizes = {table: data.size for table, data in baseline_data.items()}
    tables = sorted(baseline_data, key=lambda t: -baseline_data[t].size)
    probed = sorted(tables[: plan.max_probed_tables])
    if len(tables) > len(probed):
        notes.append(f"probed the {len(probed)} biggest of {len(tables)} tables")
    rows = {table: data.rows for table, data in baseline_data.items()}
    tracer = Tracer(url, interval=plan.trace_interval, rows=rows)
    probes = Probes(url, probed, interval=plan.probe_interval)
    reader = LongReader(url, probed, plan.long_reader_ms) if plan.long_reader_ms > 0 else None
    if reader is not None:
        reader.start()
        reader.ready.wait(10)
        notes.append(
            f"a reader holding every table for {plan.long_reader_ms:.0f} ms was running "
            "when the upgrade started"
        )
    t0 = time.monotonic()
    tracer.start(t0)
    try:
        probes.start(t0)
        upgrade = migrator.upgrade(url, "upgrade")
        upgrade_ms = (time.monotonic() - t0) * 1000.0
    finally:
        stalls: list[ProbeStall] = probes.stop(threshold=plan.stall_threshold_ms)
        trace = tracer.stop()
    if reader is not None:
        reader.join()
    if tracer.error:
        notes.append(f"the tracer stopped early: {tracer.error}")
    steps.append(upgrade)
    if not upgrade.ok:
        return facts(trace, stalls=stalls, sizes=sizes, upgrade_ms=upgrade_ms)
    head = upgrade.reached or head
    if head == target:
        notes.append("no migration between production's revision and the candidate's head")
    downgrade = migrator.downgrade(url, target, "downgrade")
    steps.append(downgrade)
    if not downgrade.ok:
        return facts(trace, stalls=stalls, sizes=sizes, upgrade_ms=upgrade_ms)
    after_schema, after_data = _fingerprints(url)
    schema = schema_diff(baseline_schema, after_schema)
    losses = data_diff(baseline_data, after_data)
    steps.append(migrator.upgrade(url, "upgrade again"))
    return facts(
        trace, stalls=stalls, schema=schema, losses=losses, sizes=sizes, upgrade_ms=upgrade_ms
    )


def _with_command(step: StepOutcome, head: str) -> StepOutcome:
    from dataclasses import replace

    return replace(step, command=head)
