"""Kind ``load``: production's traffic shape at production's peak rate, A/B on this host.

The gate replays the route mix ``source``'s proxy recorded (its traffic profile, never a
value of a request) at ``scale`` times its peak rate for ``duration`` seconds, with an
open-loop generator (``stageline.load.generator``), against two releases one after the
other on equal footing: the release ``source`` serves now (the baseline) and the
candidate (the digest this gate checks). Both run from their own sealed release folders,
prepared on this environment's host, on free ports of 127.0.0.1, with this environment's
variables pointed at one scratch copy of its database (``rehearsal.isolation``: a role
that owns only the copy, the tripwire watching the live database), each warmed for
``warmup`` seconds first. Then ``load.judge`` compares them::

    [environments.staging.gates.load]
    kind = "load"
    scale = 1.0                 # x production's peak requests per second
    duration = 60               # seconds per side
    timeout = 300
    routes = { "GET /orders/{id}" = { query = "SELECT id FROM orders LIMIT 200" },
               "GET /products/{id}" = { values = ["MUG-CLASSIC", "TEA-001"] } }
    scenarios = { "POST /orders" = [
      { method = "POST", path = "/orders", expect_status = 201,
        json = { customer_email = "load-{run}@example.com",
                 lines = [{ sku = "MUG", quantity = 1 }] } },
    ] }
    max_p99_ratio = 1.2
    max_error_rate = 0.001
    min_throughput_ratio = 0.95

A GET route with ``{id}``/``{uuid}``/``{hash}`` segments takes its values from its
``query`` (run on the copy; one column per placeholder) or ``values``; any other method
replays its ``scenarios`` steps (the ``http`` gate's step model: ``{run}``,
``{secret.NAME}``, ``{var.NAME}``; captures are not replayed). A route of the mix that
cannot be replayed is an error naming it and its share. When ``source`` serves nothing
yet there is nothing to compare and the gate passes, saying so.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pydantic import Field, field_validator, model_validator

from stageline.config.resolve import PostgresFacts
from stageline.errors import ReachesLive
from stageline.gates.base import GateContext, GateOptions, GateResult, Runnable, one_line
from stageline.gates.http import Step, _resolved
from stageline.gates.placeholders import Values, first_problem
from stageline.load.judge import Budgets, Side, Verdict, judge, summarize
from stageline.load.schedule import Call, Job, Source, arity, plan, split_route, unreplayable

if TYPE_CHECKING:
    from stageline.gates.migrations import StoredRun
    from stageline.traffic.profile import TrafficProfile

#: the application name (PGAPPNAME) of the services the gate starts, for the tripwire
APPLICATION = "stageline-load-gate"
#: the report for people, beside the JUnit report (``load.xml``)
REPORT_TEXT = "load.txt"


class RouteValues(GateOptions):
    """Where a GET route's path values come from: a ``query`` on the copy, or ``values``
    (scalars for one placeholder, lists for several)."""

    query: str | None = None
    values: list[str | int | list[str | int]] | None = None

    @model_validator(mode="after")
    def _one(self) -> RouteValues:
        if (self.query is None) == (self.values is None):
            raise ValueError("give either `query` or `values`")
        if self.values is not None and not self.values:
            raise ValueError("`values` is empty")
        return self

    def rows(self) -> tuple[tuple[str, ...], ...]:
        return tuple(
            tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
            for value in self.values or []
        )


def _route_key(route: str) -> str:
    method, _, path = route.strip().partition(" ")
    if not path.startswith("/"):
        raise ValueError(f"expected a route such as 'GET /orders/{{id}}', got {route!r}")
    return f"{method.upper()} {path.strip()}"


class LoadOptions(GateOptions):
    #: times the source's peak requests per second (1.0: production's peak, not a fraction)
    scale: float = Field(1.0, gt=0)
    #: seconds of load per side (baseline, then candidate)
    duration: float = Field(60.0, gt=0)
    #: the environment whose traffic profile and serving release are the reference
    source: str = "production"
    #: per GET route template: where its path values come from
    routes: dict[str, RouteValues] = Field(default_factory=dict)
    #: per write route: the steps sent for each of its requests (the http gate's steps)
    scenarios: dict[str, list[Step]] = Field(default_factory=dict)
    #: the candidate's p99 over the baseline's (median of the rounds), and each route's p90
    max_p99_ratio: float | None = Field(1.2, gt=0)
    #: the candidate's p50 over the baseline's (unset: not judged)
    max_p50_ratio: float | None = Field(None, gt=0)
    #: the candidate's share of requests answered 5xx or not at all
    max_error_rate: float = Field(0.001, ge=0, le=1)
    #: answered requests per second over the intended rate (each side; the baseline's
    #: below it means this host cannot absorb the rate: an error, not a verdict)
    min_throughput_ratio: float = Field(0.95, ge=0, le=1)
    #: the service's CPU seconds under the load, candidate over baseline (unset: not judged)
    max_cpu_ratio: float | None = Field(None, gt=0)
    #: the service's peak resident memory, candidate over baseline (unset: not judged)
    max_memory_ratio: float | None = Field(None, gt=0)
    #: a latency difference below this many ms never fails a ratio (jitter, not regression)
    noise_ms: float = Field(5.0, ge=0)
    #: seconds of the same load sent to each side before it is measured
    warmup: float = Field(1.0, ge=0)
    #: rounds each side's duration is cut into, alternated between the sides (the p99
    #: judged is the median of the rounds' p99s)
    rounds: int = Field(3, ge=1, le=60)
    #: connections the generator may hold open at once
    max_connections: int = Field(256, ge=1, le=4096)

    @field_validator("routes", "scenarios", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_route_key(str(key)): item for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _scenarios(self) -> LoadOptions:
        for route, steps in self.scenarios.items():
            if not steps:
                raise ValueError(f"scenario {route!r} has no steps")
            if any(step.capture for step in steps):
                raise ValueError(f"scenario {route!r}: captures are not replayed under load")
        return self

    def budgets(self) -> Budgets:
        return Budgets(
            self.max_p99_ratio, self.max_p50_ratio, self.max_error_rate,
            self.min_throughput_ratio, self.max_cpu_ratio, self.max_memory_ratio, self.noise_ms,
        )  # fmt: skip


class Unfit(Exception):
    """The gate cannot run as configured (the message says why and what to do)."""


@dataclass(frozen=True)
class Load:
    """What both sides get: the schedule, its warm-up, and the figures it came from."""

    rate: float
    jobs: tuple[Job, ...]
    warm: tuple[Job, ...]
    mix: Mapping[str, float]
    peak_rps: float


class LoadGate:
    Options = LoadOptions

    def run(self, ctx: GateContext, options: LoadOptions) -> GateResult:
        opts = LoadOptions.model_validate(options)
        started = time.monotonic()
        try:
            return self._run(ctx, opts, started)
        except Unfit as unfit:
            return GateResult("error", str(unfit), time.monotonic() - started, {})
        except ReachesLive as refused:  # nothing ran: a variable names the live database
            took = time.monotonic() - started
            return GateResult("failed", str(refused), took, {"tripwire": {"message": str(refused)}})

    def _run(self, ctx: GateContext, opts: LoadOptions, started: float) -> GateResult:
        if ctx.releases is None:
            raise Unfit("this run gives the gate no releases to start (run it with `verify`)")
        if opts.source not in ctx.pipeline.names:
            raise Unfit(
                f"source {opts.source!r} is not an environment of the pipeline "
                f"(valid: {', '.join(ctx.pipeline.names)})"
            )
        baseline_digest = ctx.releases.serving(opts.source)
        if baseline_digest is None:
            summary = f"nothing to compare: {opts.source} serves no release yet"
            return GateResult("passed", summary, time.monotonic() - started, {"baseline": None})
        profile = ctx.releases.traffic(opts.source)
        if profile is None or profile.peak_rps <= 0:
            raise Unfit(
                f"no traffic recorded in {opts.source}: the gate replays its proxy's profile "
                f"(`stageline traffic {opts.source}`; recording is on for production, "
                f"`record_traffic = true` in [environments.{opts.source}] elsewhere)"
            )
        if 2 * (opts.duration + opts.warmup) + 5 > ctx.remaining():
            raise Unfit(
                f"two runs of {opts.duration:g}s (+{opts.warmup:g}s warm-up) do not fit the "
                f"gate's time left ({ctx.remaining():.0f}s): raise its `timeout`"
            )
        scenarios = _scenario_calls(ctx, opts)
        baseline = ctx.releases.runnable(ctx.environment.name, baseline_digest)
        candidate = ctx.releases.runnable(ctx.environment.name, ctx.digest)
        with _data(ctx, candidate) as (variables, candidate_dir, copy_url, note, watch):
            sources = {**_values(opts, copy_url), **scenarios}
            load = _load(profile, opts, sources)
            sides = _both(ctx, opts, load, baseline, candidate, candidate_dir, variables)
        evidence: dict[str, Any] = {"database": note}
        if watch is not None:
            evidence["tripwire"] = watch.evidence()
            if watch.message:
                return GateResult("failed", watch.message, time.monotonic() - started, evidence)
        if isinstance(sides, str):
            return GateResult("error", sides, time.monotonic() - started, evidence)
        verdict = judge(*sides, opts.budgets())
        return _result(ctx, opts, load, sides, verdict, evidence, time.monotonic() - started)


def _scenario_calls(ctx: GateContext, opts: LoadOptions) -> dict[str, Source]:
    """Each scenario's steps rendered once (``{run}``, secrets, variables)."""
    if not opts.scenarios:
        return {}
    environment = ctx.environment.name
    steps = [step for route in sorted(opts.scenarios) for step in opts.scenarios[route]]
    secrets = dict(ctx.store.secrets(environment))
    problem = first_problem(
        steps, [f"scenario step {step.label()}" for step in steps], environment=environment,
        declared=ctx.environment.secrets, secrets=secrets, variables=ctx.variables,
    )  # fmt: skip
    if problem:
        raise Unfit(problem)
    values = Values(secrets, ctx.variables)
    return {
        route: Source(calls=tuple(_call(_resolved(step, values)) for step in route_steps))
        for route, route_steps in opts.scenarios.items()
    }


def _call(step: Step) -> Call:
    headers = dict(step.headers)
    body = b""
    if step.json_body is not None:
        body = json.dumps(step.json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif step.form is not None:
        body = urlencode(step.form).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return Call(step.method.upper(), step.path, body, tuple(headers.items()))


def _values(opts: LoadOptions, copy_url: str | None) -> dict[str, Source]:
    """Each GET route's path values: listed, or read from the copy by its query."""
    found = {}
    for route, given in opts.routes.items():
        if given.values is not None:
            found[route] = Source(rows=given.rows())
        elif copy_url is None:
            raise Unfit(f"route {route}: `query` needs a database, and there is none here")
        else:
            found[route] = Source(rows=_query(copy_url, route, str(given.query)))
    return found


def _query(url: str, route: str, query: str) -> tuple[tuple[str, ...], ...]:
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(query.encode()).fetchall()
    except psycopg.Error as exc:
        raise Unfit(f"route {route}: its query failed on the copy: {one_line(str(exc))}") from exc
    width = arity(split_route(route)[1])
    if not rows:
        raise Unfit(f"route {route}: its query returned no rows on the copy")
    if len(rows[0]) < width:
        raise Unfit(f"route {route}: its query returns {len(rows[0])} column(s), needs {width}")
    return tuple(tuple(str(value) for value in row[:width]) for row in rows)


def _load(profile: TrafficProfile, opts: LoadOptions, sources: Mapping[str, Source]) -> Load:
    mix = profile.mix
    missing = unreplayable(mix, sources)
    if missing:
        shown = ", ".join(f"{route} ({mix[route]:.1%})" for route in missing)
        raise Unfit(
            f"cannot replay {shown} of {opts.source}'s traffic: give each GET template "
            '`routes = { "GET /x/{id}" = { query = "SELECT ..." } }` (or `values`) and '
            "each write a `scenarios` entry"
        )
    rate = opts.scale * profile.peak_rps
    jobs = tuple(plan(mix, rate, opts.duration / opts.rounds, sources))
    warm = tuple(plan(mix, rate, min(opts.warmup, opts.duration), sources))
    return Load(rate, jobs, warm, mix, profile.peak_rps)


@contextlib.contextmanager
def _data(ctx: GateContext, candidate: Runnable) -> Iterator[tuple[Any, ...]]:
    """(variables, the candidate's scratch folder, the copy's URL, a note, the guard):
    on a scratch copy of the environment's database under the tripwire when it has one."""
    if ctx.environment.postgres is None or "DATABASE_URL" not in ctx.variables:
        with _scratch(candidate.workdir) as folder:
            yield dict(ctx.variables), folder, None, "no database", None
        return
    from stageline.rehearsal.isolation import isolate
    from stageline.rehearsal.tripwire import guard

    live = PostgresFacts.from_url(ctx.variables["DATABASE_URL"])
    admin_url = ctx.targets.admin_url(ctx.environment.name)
    with isolate(
        ctx.environment, live, ctx.variables, release_dir=candidate.workdir, admin_url=admin_url
    ) as iso:
        iso.refuse_if_aimed("the load gate's services", ctx.environment.name)
        note = (
            f"one scratch copy of {live.database} ({iso.how}) for both sides, as role "
            f"{iso.copy.user} that owns only the copy; dropped afterwards"
        )
        with guard(
            iso, what="the load gate's services", environment=ctx.environment.name,
            applications={APPLICATION}, pids=ctx.processes.live,
        ) as watch:  # fmt: skip
            yield iso.variables, iso.workdir, iso.copy.url, note, watch


@contextlib.contextmanager
def _scratch(workdir: Path) -> Iterator[Path]:
    from stageline.rehearsal.isolation import scratch_folder

    folder = scratch_folder(workdir)
    try:
        yield folder
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


def _both(
    ctx: GateContext,
    opts: LoadOptions,
    load: Load,
    baseline: Runnable,
    candidate: Runnable,
    candidate_dir: Path,
    variables: Mapping[str, str],
) -> tuple[Side, Side] | str:
    """Both releases started on the same copy and warmed, then loaded in alternating
    rounds (baseline, candidate, baseline, ...: a change of the host's load meanwhile
    falls on both); a reason if one could not be run."""
    from stageline.gates.load_side import NotStarted, loaded, started

    base_vars = {
        **variables, "STAGELINE_VERSION": baseline.version, "STAGELINE_DIGEST": baseline.digest,
    }  # fmt: skip
    labels = (
        f"release {opts.source} runs ({baseline.version})",
        f"candidate ({candidate.version})",
    )
    try:
        with contextlib.ExitStack() as stack:
            baseline_dir = stack.enter_context(_scratch(baseline.workdir))
            sides = (
                stack.enter_context(
                    started(ctx, labels[0], baseline, baseline_dir, base_vars, APPLICATION)
                ),
                stack.enter_context(
                    started(ctx, labels[1], candidate, candidate_dir, variables, APPLICATION)
                ),
            )
            timeout = min(10.0, max(1.0, opts.duration))  # for each request, once due
            for side in sides:
                loaded(ctx, side, load.warm, opts.max_connections, timeout)
            rounds: list[list[Any]] = [[], []]
            for _ in range(opts.rounds):
                for number, side in enumerate(sides):
                    ctx.log(f"loading the {side.label}: {len(load.jobs)} requests")
                    one = loaded(ctx, side, load.jobs, opts.max_connections, timeout)
                    rounds[number].append(one)
    except NotStarted as failed:
        return str(failed)
    slice_seconds = opts.duration / opts.rounds
    first, second = (
        summarize(
            label,
            [run for run, _ in measured],
            [usage for _, usage in measured],
            rate=load.rate,
            slice_seconds=slice_seconds,
        )
        for label, measured in zip(labels, rounds, strict=True)
    )
    return first, second


def _result(
    ctx: GateContext,
    opts: LoadOptions,
    load: Load,
    sides: tuple[Side, Side],
    verdict: Verdict,
    evidence: dict[str, Any],
    took: float,
) -> GateResult:
    from stageline.load.report import as_json, junit, text

    data = as_json(sides, verdict, load.rate, load.peak_rps, opts.scale, opts.source, load.mix)
    report_text = text(sides, verdict, load.rate, load.peak_rps, opts.scale, opts.source)
    (ctx.evidence_dir / "load.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    (ctx.evidence_dir / REPORT_TEXT).write_text(report_text, encoding="utf-8")
    report = ctx.evidence_dir / "load.xml"
    report.write_text(junit(verdict, ctx.name), encoding="utf-8")
    evidence = {**evidence, **data, "report": report_text}
    return replace(GateResult(verdict.status, verdict.summary, took, evidence), report=report)


def load_reports(runs: Mapping[str, StoredRun]) -> list[tuple[str, str]]:
    """For ``stageline verify`` and the demo: (gate, report text) of the load runs among
    ``runs`` (gate name -> its stored run)."""
    shown = []
    for name, run in runs.items():
        if run.kind == "load" and run.report_path:
            found = Path(run.report_path).with_name(REPORT_TEXT)
            if found.is_file():
                shown.append((name, found.read_text(encoding="utf-8")))
    return shown


__all__ = ["LoadGate", "LoadOptions", "load_reports"]
