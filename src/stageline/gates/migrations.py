"""Kind ``migrations``: rehearse the release's schema migration on a copy of the data.

Copies the newest snapshot held on the environment's server (or, where none exists, the
environment's own database, with ``pg_dump | pg_restore`` since the service is connected
to it; or nothing, for a first release) into a scratch database with
``stageline.rehearsal.isolation.isolate``: the tool gets the service's variables re-resolved
against the copy, a role that owns only the copy, and a scratch copy of the release
folder, while ``stageline.rehearsal.tripwire`` watches the live database (a session of the gate
there, or a change of its schema or migration bookkeeping, fails the gate with "the
migration reached the live database"). Brings the copy to the revision production runs now;
then upgrades it with the *candidate's* own tool (its virtualenv, its bundle) while a
tracer and probe sessions measure locks, rewrites, full scans and the stall per table;
downgrades back to production's revision, compares schema and data with the baseline,
and upgrades again. ``rehearsal.judge`` decides; the report (text, JSON, JUnit) is the
gate's evidence. The scratch database is always dropped. See ``docs/rehearsal.md``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from stageline.config.resolve import PostgresFacts
from stageline.errors import ReachesLive, StagelineError, UsageError
from stageline.gates.base import (
    GateContext,
    GateOptions,
    GateResult,
    GateStatus,
    ProcessOutcome,
)
from stageline.limits import REASON_LIMIT
from stageline.rehearsal.facts import Budgets, Waiver

if TYPE_CHECKING:
    from stageline.rehearsal.isolation import CloneMethod
    from stageline.rehearsal.tools import Migrator, ToolFiles

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_size(value: str | int) -> int:
    """Bytes in ``value``: an integer, or a text like "10MB", "512kB" (powers of 1024)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"expected a size like '10MB' or '512kB', got {value!r}")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "b").lower()])


class WaiverOption(GateOptions):
    """``{ match = "...", reason = "...", expires = 2027-01-31 }``: failing findings whose
    message contains ``match`` (case-insensitive) are accepted until ``expires``."""

    match: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=REASON_LIMIT)
    expires: date


#: options that belong to one tool
_TOOL_OF = {"config": "alembic", "app": "flask-migrate", "directory": "flask-migrate",
            "current": "command"}  # fmt: skip


class MigrationsOptions(GateOptions):
    tool: Literal["alembic", "flask-migrate", "django", "command", "sql"] = "alembic"
    #: commands run in the bundle with DATABASE_URL set to the copy; default per tool:
    #: alembic "alembic upgrade head" / "alembic downgrade {revision}" (with ``-c config``);
    #: flask-migrate "flask --app APP db upgrade" / "... db downgrade {revision}"; django
    #: "python manage.py migrate --noinput" / "python manage.py migrate {app} {migration}
    #: --noinput" (once per app whose target differs); command: required
    upgrade: str | None = None
    downgrade: str | None = None
    #: tool "command": prints the database's revision (its last line of output)
    current: str | None = None
    #: tool "alembic": the alembic.ini, relative to the release's folder
    config: str | None = None
    #: tool "flask-migrate": FLASK_APP ("module" or "module:create_app()"), and the
    #: migrations folder when it is not "migrations"
    app: str | None = None
    directory: str | None = None
    #: tool "sql": files of the bundle, applied in order, each in one transaction
    upgrade_files: list[str] = Field(default_factory=list)
    downgrade_files: list[str] = Field(default_factory=list)
    #: tool "sql": each file in one transaction (off for CREATE INDEX CONCURRENTLY)
    single_transaction: bool = True
    #: budgets: the downtime window in total, and per table (ms, after scaling)
    max_stall_ms: float | None = Field(default=None, ge=0)
    max_stall_ms_per_table: float | None = Field(default=None, ge=0)
    #: tables that may be rewritten / locked AccessExclusiveLock whatever their size
    allow_rewrite: list[str] = Field(default_factory=list)
    allow_access_exclusive: list[str] = Field(default_factory=list)
    #: tables at least this big need those allowances ("10MB", or bytes)
    size_threshold: str | int = "10MB"
    #: "table.column" (or "table") whose data the round trip may lose
    allow_data_loss: list[str] = Field(default_factory=list)
    #: the lock_timeout the advice is computed for (ms)
    lock_timeout_advice_ms: float = Field(default=2000, gt=0)
    #: whose revision the downgrade must reach: default the production-tier environment
    production: str | None = None
    #: "auto": the newest snapshot on this environment's server, else its own database
    source: Literal["auto", "snapshot", "database"] = "auto"
    #: rehearse as if a report query of this many ms held every table at the start
    long_reader_ms: float = Field(default=0, ge=0, le=600_000)
    probe_interval_ms: float = Field(default=20, gt=0, le=1000)
    stall_threshold_ms: float = Field(default=15, gt=0)
    #: the oldest revision a rollback must reach: the rollback is rehearsed down to it when
    #: production's revision is older (or there is none yet); Django: "app:migration,..."
    floor: str | None = None
    #: findings accepted on purpose, each with a reason and an expiry date
    waivers: list[WaiverOption] = Field(default_factory=list)

    # -- blocking work projected to production, statement log (issue 22) --
    #: fail when a lock that blocks writes is held while a table is rewritten, read in
    #: full or indexed for longer than this at production's size (ms; none: not judged)
    max_blocking_ms: float | None = Field(default=1000, ge=0)
    #: the rate the projection assumes where the copy is too small to time the work
    work_mb_per_s: float = Field(default=100, gt=0)
    #: log the copy's statements (its own settings only) and join them with the samples
    statement_log: bool = True

    @field_validator("size_threshold")
    @classmethod
    def _size(cls, value: str | int) -> str | int:
        parse_size(value)
        return value

    @field_validator("upgrade_files", "downgrade_files")
    @classmethod
    def _inside(cls, value: list[str]) -> list[str]:
        for path in value:
            _check_inside(path)
        return value

    @field_validator("config", "directory")
    @classmethod
    def _one_inside(cls, value: str | None) -> str | None:
        return _check_inside(value) if value is not None else None

    @model_validator(mode="after")
    def _files(self) -> MigrationsOptions:
        if self.tool == "sql" and not self.upgrade_files:
            raise ValueError("tool 'sql' needs upgrade_files = [...] (and downgrade_files)")
        if self.tool == "command":
            missing = [k for k in ("upgrade", "downgrade", "current") if not getattr(self, k)]
            if missing:
                raise ValueError(f"tool 'command' needs {', '.join(missing)} = \"...\"")
            if "{revision}" not in str(self.downgrade):
                raise ValueError("tool 'command': downgrade must contain {revision}")
        for key, tool in _TOOL_OF.items():
            if getattr(self, key) is not None and self.tool != tool:
                raise ValueError(f"{key} is an option of tool {tool!r}, not {self.tool!r}")
        return self

    def files(self) -> ToolFiles:
        """Where the tool's files are (``rehearsal.tools.ToolFiles``)."""
        from stageline.rehearsal.tools import ToolFiles

        return ToolFiles(config=self.config, app=self.app, directory=self.directory)

    def budgets(self) -> Budgets:
        return Budgets(
            max_stall_ms=self.max_stall_ms,
            max_stall_ms_per_table=self.max_stall_ms_per_table,
            allow_rewrite=frozenset(self.allow_rewrite),
            allow_access_exclusive=frozenset(self.allow_access_exclusive),
            size_threshold=parse_size(self.size_threshold),
            allow_data_loss=frozenset(self.allow_data_loss),
            lock_timeout_ms=self.lock_timeout_advice_ms,
            waivers=tuple(Waiver(w.match, w.reason, w.expires) for w in self.waivers),
            max_blocking_ms=self.max_blocking_ms,
            work_mb_per_s=self.work_mb_per_s,
        )


def _check_inside(path: str) -> str:
    if path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"expected a path inside the bundle, got {path!r}")
    return path


def _step(step: Any) -> dict[str, Any]:
    return {
        "name": step.name, "ok": step.ok, "seconds": step.seconds, "reached": step.reached,
        "expected": step.expected, "moved": step.moved,
    }  # fmt: skip


@dataclass(frozen=True)
class Setup:
    """Where the rehearsal copies from, decided before anything is copied."""

    live: PostgresFacts
    source: str
    method: CloneMethod
    note: str
    pg_bin: str
    psql: str
    production_url: str | None


class MigrationsGate:
    Options = MigrationsOptions

    def run(self, ctx: GateContext, options: MigrationsOptions) -> GateResult:
        import psycopg  # here, not at the top: `stageline check` validates options without it

        from stageline.rehearsal.judge import judge
        from stageline.rehearsal.report import as_json, junit, revision_names, text
        from stageline.rehearsal.tools import compact_route, readable, revision_changes

        opts = MigrationsOptions.model_validate(options)
        started = time.monotonic()
        try:
            _require_files(ctx.bundle, opts)
            setup = self._setup(ctx, opts)
            facts, breach = self._rehearse(ctx, opts, setup)
        except ReachesLive as exc:  # nothing ran: the variables themselves name live data
            aimed: dict[str, Any] = {"message": str(exc), "aimed": exc.variables}
            return GateResult("failed", str(exc), time.monotonic() - started, {"tripwire": aimed})
        except StagelineError as exc:
            return GateResult("error", str(exc), time.monotonic() - started)
        except psycopg.Error as exc:  # the server refused us (connections, permissions...)
            message = f"the rehearsal could not use PostgreSQL: {str(exc).strip()[:300]}"
            return GateResult("error", message, time.monotonic() - started)
        verdict = judge(facts, opts.budgets())
        report = ctx.evidence_dir / "rehearsal.txt"
        rendered = text(facts, verdict)
        if breach["message"]:
            rendered = f"FAILED: {breach['message']}\n\n{rendered}"
        report.write_text(rendered, encoding="utf-8")
        data = {**as_json(facts, verdict), "tripwire": breach}
        (ctx.evidence_dir / "rehearsal.json").write_text(
            json.dumps(data, indent=2, sort_keys=True), encoding="utf-8"
        )
        (ctx.evidence_dir / "rehearsal.xml").write_text(junit(facts, verdict), encoding="utf-8")
        for line in rendered.splitlines():
            ctx.log(line)
        names = revision_names(facts)
        evidence: dict[str, Any] = {
            "route": compact_route(facts.production_revision, facts.head_revision),
            "changes": revision_changes(facts.production_revision, facts.head_revision)[:50],
            "copy": facts.clone_method,
            "downtime_ms": verdict.total_ms,
            "downtime_scaled_ms": verdict.total_scaled_ms,
            "steps": [_step(s) for s in facts.steps],
            "findings": [readable(f"{f.severity}: {f.message}", names) for f in verdict.findings][
                :40
            ],
            "waivers": verdict.waivers,
            "tripwire": breach,
            "notes": facts.notes,
            "timings": facts.timings,
        }
        if breach["message"]:
            summary = str(breach["message"])
            return GateResult("failed", summary, time.monotonic() - started, evidence, report)
        status: GateStatus = "passed" if verdict.passed else "failed"
        summary = readable(verdict.summary, names)
        return GateResult(status, summary, time.monotonic() - started, evidence, report)

    def _rehearse(
        self, ctx: GateContext, opts: MigrationsOptions, setup: Setup
    ) -> tuple[Any, dict[str, Any]]:
        """The rehearsal on an isolated copy under the tripwire: (facts, tripwire evidence)."""
        from stageline.rehearsal.isolation import isolate, scratch_name
        from stageline.rehearsal.run import Plan, first_release, rehearse_on
        from stageline.rehearsal.tools import production_revision
        from stageline.rehearsal.tracer import APPLICATION
        from stageline.rehearsal.tripwire import guard

        env = ctx.environment
        reader = self._migrator(ctx, opts, setup, ctx.bundle, {})
        production = production_revision(reader, setup.production_url)
        method: CloneMethod = "empty" if first_release(reader, production[0]) else setup.method
        note = setup.note
        if method == "empty":
            note = "production has no revision yet: the copy starts as an empty database"
        ctx.log(f"rehearsing on a copy of {setup.source} ({method})")
        with isolate(
            env, setup.live, ctx.variables, release_dir=ctx.bundle, source=setup.source,
            method=method, pg_bin=setup.pg_bin, scratch=scratch_name("stageline_rehearsal"),
            admin_url=ctx.targets.admin_url(env.name),
        ) as iso:  # fmt: skip
            iso.refuse_if_aimed("the migration", env.name)
            migrator = self._migrator(ctx, opts, setup, iso.workdir, ctx.service_env(iso.variables))
            plan = Plan(
                admin_url=iso.admin_url, source=setup.source, method=setup.method,
                migrator=migrator, production_url=setup.production_url, pg_bin=setup.pg_bin,
                budgets=opts.budgets(), probe_interval=opts.probe_interval_ms / 1000,
                stall_threshold_ms=opts.stall_threshold_ms, source_note=note,
                long_reader_ms=opts.long_reader_ms, scratch=iso.copy.database,
                tool_url=iso.copy.url, floor=opts.floor, statement_log=opts.statement_log,
            )  # fmt: skip
            with guard(
                iso, what="the migration", environment=env.name,
                applications={APPLICATION}, pids=ctx.processes.live,
            ) as watch:  # fmt: skip
                facts = rehearse_on(plan, f"{iso.how}, {iso.seconds:.1f}s", production)
                for step in facts.steps:
                    watch.read_output(step.output)
        breach = watch.evidence()
        if watch.watch_error:
            facts.notes.append(watch.watch_error)
        return facts, breach

    def _migrator(
        self,
        ctx: GateContext,
        opts: MigrationsOptions,
        setup: Setup,
        cwd: Path,
        env_vars: Mapping[str, str],
    ) -> Migrator:
        from stageline.rehearsal.tools import Command, Runner, SqlFiles, command_migrator

        def run(argv: Any, cwd: Path, env_vars: Any) -> ProcessOutcome:
            return ctx.run_process(argv, cwd=cwd, env=env_vars)

        runner: Runner = run
        bin_dir = Path(ctx.python).parent
        if opts.tool == "sql":
            return SqlFiles(
                run=runner, cwd=cwd, env=env_vars, psql=setup.psql,
                upgrade_files=opts.upgrade_files, downgrade_files=opts.downgrade_files,
                single_transaction=opts.single_transaction,
            )  # fmt: skip
        if opts.tool == "command":
            return Command(
                run=runner, cwd=cwd, env=env_vars, upgrade_command=str(opts.upgrade),
                downgrade_command=str(opts.downgrade), current_command=str(opts.current),
                bin_dir=bin_dir,
            )  # fmt: skip
        return command_migrator(
            opts.tool, run=runner, cwd=cwd, env=env_vars, bin_dir=bin_dir,
            upgrade=opts.upgrade, downgrade=opts.downgrade, files=opts.files(),
        )  # fmt: skip

    def _setup(self, ctx: GateContext, opts: MigrationsOptions) -> Setup:
        from stageline.services.postgres import client_binaries

        env = ctx.environment
        pg = env.postgres
        source_url = ctx.variables.get("DATABASE_URL", "")
        if pg is None or not source_url:
            raise UsageError(
                f"{env.name} has no PostgreSQL database to rehearse on",
                hint=f"declare [environments.{env.name}.services.postgres]",
            )
        binaries = client_binaries(source_url, pg.provider)
        production_url, production_name = _production_url(ctx, opts.production)
        live = PostgresFacts.from_url(source_url)
        method: CloneMethod = "dump"
        source, note = (
            live.database,
            (
                f"no snapshot on {env.name}'s server: copied {env.name}'s own database "
                "with pg_dump | pg_restore (it is in use, so a template copy is impossible)"
            ),
        )
        if opts.source != "database":
            snapshot = ctx.store.newest_snapshot(env.name)
            if snapshot is not None:
                method, source = "template", snapshot
                note = f"copied the newest snapshot on {env.name}'s server, {snapshot}"
            elif opts.source == "snapshot":
                raise UsageError(
                    f"no snapshot is kept on {env.name}'s server",
                    hint=f"take one (`stageline snapshot take ... {env.name}`) or set "
                    "source = 'auto'",
                )
        if production_url is None:
            note += f"; {production_name or 'production'} has no database yet"
        return Setup(
            live,
            source,
            method,
            note,
            str(binaries.bin_dir),
            binaries.program("psql"),
            production_url,
        )


def _require_files(bundle: Path, opts: MigrationsOptions) -> None:
    """UsageError naming the missing file when the release lacks what the tool runs from
    (only for the tool's own commands: custom ones say where they look themselves)."""
    from stageline.rehearsal.tools import missing_files

    if opts.upgrade is not None or opts.tool in ("sql", "command"):
        return
    missing = missing_files(opts.tool, bundle, opts.files())
    if missing is not None:
        raise UsageError(missing)


def _production_url(ctx: GateContext, name: str | None) -> tuple[str | None, str]:
    """The database URL of the environment whose revision the downgrade must reach."""
    if name is None:
        found = ctx.pipeline.production
        if found is None or found.name == ctx.environment.name:
            return None, ""
        name = found.name
    target = ctx.pipeline.environment(name)
    facts = ctx.targets.postgres(target.name)
    if facts is None or facts.port == 0:
        return None, name
    return facts.url, name


class StoredRun(Protocol):
    """A gate run as the store keeps it (``state.GateRunRecord``), as far as read here."""

    @property
    def gate(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def report_path(self) -> str | None: ...


class StoredRuns(Protocol):
    """The store's read of gate runs (``state.Store.gate_runs``), newest first."""

    def gate_runs(
        self, environment: str | None = ..., digest: str | None = ..., limit: int = ...
    ) -> Sequence[StoredRun]: ...


def rehearsal_lines(store: StoredRuns, running: list[tuple[str, str | None]]) -> list[str]:
    """For ``stageline status``: the newest rehearsal of the digest each environment runs
    (``running`` is ``(environment, digest)``), one line each."""
    lines = []
    for environment, digest in running:
        if digest is None:
            continue
        runs = [r for r in store.gate_runs(environment, digest, limit=50) if r.kind == "migrations"]
        if runs:
            run = runs[0]
            lines.append(
                f"migration rehearsal ({environment}, {run.gate}): {run.status}: {run.summary}"
            )
    return lines


def rehearsal_reports(runs: Mapping[str, StoredRun]) -> list[tuple[str, str]]:
    """For ``stageline verify`` and the demo: (gate, report text) of the rehearsals among
    ``runs`` (gate name -> its stored run)."""
    shown = []
    for name, run in runs.items():
        if run.kind == "migrations" and run.report_path and Path(run.report_path).is_file():
            shown.append((name, Path(run.report_path).read_text(encoding="utf-8")))
    return shown
