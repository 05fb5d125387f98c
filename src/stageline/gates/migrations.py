"""Kind ``migrations``: rehearse the release's schema migration on a copy of the data.

Copies the newest snapshot held on the environment's server (or, where none exists, the
environment's own database, with ``pg_dump | pg_restore`` since the service is connected
to it) into a scratch database; brings the copy to the revision production runs now;
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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from stageline.errors import StagelineError, UsageError
from stageline.gates.base import (
    GateContext,
    GateOptions,
    GateResult,
    GateStatus,
    ProcessOutcome,
)
from stageline.rehearsal.facts import Budgets

if TYPE_CHECKING:
    from stageline.state import GateRunRecord, Store

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


class MigrationsOptions(GateOptions):
    tool: Literal["alembic", "sql", "django"] = "alembic"
    #: commands run in the bundle with DATABASE_URL set to the copy; default per tool:
    #: alembic "alembic upgrade head" / "alembic downgrade {revision}"; django
    #: "python manage.py migrate --noinput" / "python manage.py migrate {app} {migration}
    #: --noinput" (once per app whose target differs)
    upgrade: str | None = None
    downgrade: str | None = None
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

    @field_validator("size_threshold")
    @classmethod
    def _size(cls, value: str | int) -> str | int:
        parse_size(value)
        return value

    @field_validator("upgrade_files", "downgrade_files")
    @classmethod
    def _inside(cls, value: list[str]) -> list[str]:
        for path in value:
            if path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"expected a path inside the bundle, got {path!r}")
        return value

    @model_validator(mode="after")
    def _files(self) -> MigrationsOptions:
        if self.tool == "sql" and not self.upgrade_files:
            raise ValueError("tool 'sql' needs upgrade_files = [...] (and downgrade_files)")
        return self

    def budgets(self) -> Budgets:
        return Budgets(
            max_stall_ms=self.max_stall_ms,
            max_stall_ms_per_table=self.max_stall_ms_per_table,
            allow_rewrite=frozenset(self.allow_rewrite),
            allow_access_exclusive=frozenset(self.allow_access_exclusive),
            size_threshold=parse_size(self.size_threshold),
            allow_data_loss=frozenset(self.allow_data_loss),
            lock_timeout_ms=self.lock_timeout_advice_ms,
        )


class MigrationsGate:
    Options = MigrationsOptions

    def run(self, ctx: GateContext, options: BaseModel) -> GateResult:
        import psycopg  # here, not at the top: `stageline check` validates options without it

        from stageline.rehearsal.judge import judge
        from stageline.rehearsal.report import as_json, junit, text
        from stageline.rehearsal.run import rehearse

        opts = MigrationsOptions.model_validate(options)
        started = time.monotonic()
        try:
            plan = self._plan(ctx, opts)
        except StagelineError as exc:
            return GateResult("error", str(exc), time.monotonic() - started)
        ctx.log(f"rehearsing on a copy of {plan.source} ({plan.method}) as {plan.scratch}")
        try:
            facts = rehearse(plan)
        except StagelineError as exc:
            return GateResult("error", str(exc), time.monotonic() - started)
        except psycopg.Error as exc:  # the server refused us (connections, permissions...)
            message = f"the rehearsal could not use PostgreSQL: {str(exc).strip()[:300]}"
            return GateResult("error", message, time.monotonic() - started)
        verdict = judge(facts, opts.budgets())
        report = ctx.evidence_dir / "rehearsal.txt"
        report.write_text(text(facts, verdict), encoding="utf-8")
        data = as_json(facts, verdict)
        (ctx.evidence_dir / "rehearsal.json").write_text(
            json.dumps(data, indent=2, sort_keys=True), encoding="utf-8"
        )
        (ctx.evidence_dir / "rehearsal.xml").write_text(junit(facts, verdict), encoding="utf-8")
        for line in text(facts, verdict).splitlines():
            ctx.log(line)
        evidence: dict[str, Any] = {
            "route": f"{facts.production_revision} -> {facts.head_revision}",
            "copy": facts.clone_method,
            "downtime_ms": verdict.total_ms,
            "downtime_scaled_ms": verdict.total_scaled_ms,
            "steps": [{"name": s.name, "ok": s.ok, "seconds": s.seconds} for s in facts.steps],
            "findings": [f"{f.severity}: {f.message}" for f in verdict.findings][:40],
            "notes": facts.notes,
        }
        status: GateStatus = "passed" if verdict.passed else "failed"
        return GateResult(status, verdict.summary, time.monotonic() - started, evidence, report)

    def _plan(self, ctx: GateContext, opts: MigrationsOptions) -> Any:
        from stageline.rehearsal.run import CloneMethod, Plan
        from stageline.rehearsal.tools import Alembic, Django, Migrator, Runner, SqlFiles
        from stageline.services.postgres import client_binaries, database_url

        env = ctx.environment
        pg = env.postgres
        source_url = ctx.variables.get("DATABASE_URL", "")
        if pg is None or not source_url:
            raise UsageError(
                f"{env.name} has no PostgreSQL database to rehearse on",
                hint=f"declare [environments.{env.name}.services.postgres]",
            )
        binaries = client_binaries(source_url, pg.provider)
        admin_url = database_url(source_url, "postgres")
        root = ctx.root
        production_url, production_name = _production_url(root, env.name, opts.production)

        def run(argv: Any, cwd: Path, env_vars: Any) -> ProcessOutcome:
            return ctx.run_process(argv, cwd=cwd, env=env_vars)

        runner: Runner = run
        migrator: Migrator
        if opts.tool == "django":
            migrator = Django(run=runner, cwd=ctx.bundle, env=ctx.service_env(),
                              bin_dir=Path(ctx.python).parent)  # fmt: skip
            migrator.upgrade_command = opts.upgrade or migrator.upgrade_command
            migrator.downgrade_command = opts.downgrade or migrator.downgrade_command
        elif opts.tool == "sql":
            migrator = SqlFiles(
                run=runner, cwd=ctx.bundle, env=ctx.service_env(), psql=binaries.program("psql"),
                upgrade_files=opts.upgrade_files, downgrade_files=opts.downgrade_files,
                single_transaction=opts.single_transaction,
            )  # fmt: skip
        else:
            migrator = Alembic(run=runner, cwd=ctx.bundle, env=ctx.service_env(),
                               bin_dir=Path(ctx.python).parent)  # fmt: skip
            migrator.upgrade_command = opts.upgrade or migrator.upgrade_command
            migrator.downgrade_command = opts.downgrade or migrator.downgrade_command
        database = urlsplit(source_url).path.lstrip("/")
        method: CloneMethod = "dump"
        source, note = (
            database,
            (
                f"no snapshot on {env.name}'s server: copied {env.name}'s own database "
                "with pg_dump | pg_restore (it is in use, so a template copy is impossible)"
            ),
        )
        if opts.source != "database":
            snapshot = _newest_snapshot(root, env.name)
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
        return Plan(
            admin_url=admin_url, source=source, method=method, migrator=migrator,
            production_url=production_url, pg_bin=str(binaries.bin_dir),
            budgets=opts.budgets(), probe_interval=opts.probe_interval_ms / 1000,
            stall_threshold_ms=opts.stall_threshold_ms, source_note=note,
            long_reader_ms=opts.long_reader_ms,
        )  # fmt: skip


def _production_url(root: Path, environment: str, name: str | None) -> tuple[str | None, str]:
    """The database URL of the environment whose revision the downgrade must reach."""
    from stageline.config.loader import load_pipeline
    from stageline.targets.backing import postgres_facts
    from stageline.workspace import Workspace

    pipe = load_pipeline(root)
    if name is None:
        found = pipe.production
        if found is None or found.name == environment:
            return None, ""
        name = found.name
    target = pipe.environment(name)
    facts = postgres_facts(Workspace.at(root).home, target, pipe.service.name)
    if facts is None or facts.port == 0:
        return None, name
    auth = facts.user + (f":{facts.password}" if facts.password else "")
    return f"postgresql://{auth}@{facts.host}:{facts.port}/{facts.database}", name


def _newest_snapshot(root: Path, environment: str) -> str | None:
    """The template database of the newest snapshot kept on ``environment``'s server."""
    try:
        from stageline.data.snapshot import newest_snapshot
    except ImportError:  # the snapshots feature is not installed in this build
        return None
    from stageline.state import Store
    from stageline.workspace import Workspace

    with Store.open(Workspace.at(root).state_url) as store:
        record = newest_snapshot(store, environment)
    return record.name if record is not None else None


def rehearsal_lines(store: Store, running: list[tuple[str, str | None]]) -> list[str]:
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


def rehearsal_reports(runs: Mapping[str, GateRunRecord]) -> list[tuple[str, str]]:
    """For ``stageline verify`` and the demo: (gate, report text) of the rehearsals among
    ``runs`` (gate name -> its stored run)."""
    shown = []
    for name, run in runs.items():
        if run.kind == "migrations" and run.report_path and Path(run.report_path).is_file():
            shown.append((name, Path(run.report_path).read_text(encoding="utf-8")))
    return shown
