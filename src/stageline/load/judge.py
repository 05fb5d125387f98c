"""The verdict of an A/B load run: the candidate against the release production runs, on
the same host, the same data copy and the same schedule. Pure.

:func:`summarize` turns one side's samples and usage into a :class:`Side`; :func:`judge`
compares the two sides under :class:`Budgets` and returns a :class:`Verdict` whose every
reason names its figure and budget. Three outcomes:

- ``error``: the run cannot say anything about the candidate because the load was not
  what it should have been (:func:`sizing`): the generator fell behind its schedule, or
  the release production runs now could not absorb the rate on this host (its achieved
  throughput below ``min_throughput_ratio``, the host's CPU named when it was the limit).
  The load is never quietly smaller than asked;
  The same when a budget is exceeded while the host's CPU was saturated (over
  :data:`HOST_BUSY` busy, and a service or the generator waited for a CPU over
  :data:`WAIT_SHARE` of the time it wanted one: ``/proc`` schedstat) and the candidate
  did not cause it: its CPU within ``max_cpu_ratio`` (or :data:`HEAVIER`) of the
  baseline's; unless a route's p90 exceeded its budget in every paired round (a host's
  load does not slow one route of one side in every round: that stays ``failed``);
- ``failed``: a budget is exceeded: error rate (absolute), achieved/intended throughput
  (absolute), p50 / p99 / CPU / memory as ratios to the baseline, and per route (one
  with at least :data:`MIN_ROUTE_SAMPLES` answers on both sides) its p90 under
  ``max_p99_ratio`` (a route's few answers make its p99 one or two samples: a host's
  hiccup, where a slower route moves its p90). A latency ratio counts only where the
  difference is above ``noise_ms`` (a 1.4x ratio of two 1 ms figures is jitter, not a
  regression). p99s and route p90s are compared round by round (a baseline round and
  the candidate round after it share the host's conditions) and the median of those
  rounds' ratios and differences is judged (:func:`paired`), so a host disturbed during
  one round does not decide the verdict;
- ``passed``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from stageline.values import GateStatus

if TYPE_CHECKING:
    from stageline.load.generator import Run, Sample
    from stageline.load.measure import Usage

#: a job dispatched later than this after its due time counts as late (the generator's lag)
LATE_MS = 50.0
#: the generator counts as saturated when its thread uses more of a core than this, when
#: it sent below this share of the rate, or when this share of its jobs went out late (a
#: few late jobs are the host pausing the process: they count in the latencies, as the
#: users of a paused host would feel them, but do not make the run unfit)
MAX_GENERATOR_CPU = 0.9
MIN_SENT_SHARE = 0.97
MAX_LATE_SHARE = 0.1
#: the host's CPU counts as the limit above this busy share (all cores together), when
#: the service waited for a CPU for more than WAIT_SHARE of the time it wanted one
HOST_BUSY = 0.9
WAIT_SHARE = 0.2
#: a route is judged on its own once it has this many answers on each side
MIN_ROUTE_SAMPLES = 20


@dataclass(frozen=True)
class Budgets:
    """The gate's budgets (``None``: not judged)."""

    max_p99_ratio: float | None = 1.2
    max_p50_ratio: float | None = None
    max_error_rate: float = 0.001
    min_throughput_ratio: float = 0.95
    max_cpu_ratio: float | None = None
    max_memory_ratio: float | None = None
    noise_ms: float = 5.0


@dataclass(frozen=True)
class RouteFigures:
    route: str
    count: int
    errors: int
    p50_ms: float
    p99_ms: float
    p90_ms: float = 0.0
    #: the route's p90 in each round (ms)
    p90_rounds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Side:
    """One side's figures: the load asked for, what the service did with it, and what
    the generator and the host could do."""

    label: str
    rate: float
    duration: float
    intended: int
    completed: int
    errors: int
    p50_ms: float
    p99_ms: float
    achieved_rps: float
    sent_rps: float
    lag_p99_ms: float
    late_share: float
    generator_cpu: float
    cpu_seconds: float
    peak_rss_mb: float
    host_busy: float
    routes: tuple[RouteFigures, ...] = ()
    #: answers per second of the run and p99 per second (ms), for the charts
    per_second: tuple[tuple[int, float], ...] = field(default=())
    #: each round's p99 (ms)
    p99_rounds: tuple[float, ...] = ()
    #: seconds the service's threads, and the generator's, waited for a CPU while runnable
    wait_seconds: float = 0.0
    generator_wait_seconds: float = 0.0

    @property
    def wait_share(self) -> float:
        """Of the time the service or the generator wanted a CPU, the larger share it
        waited for one."""
        wanted = self.cpu_seconds + self.wait_seconds
        service = self.wait_seconds / wanted if wanted > 0 else 0.0
        own = self.generator_cpu * self.duration + self.generator_wait_seconds
        generator = self.generator_wait_seconds / own if own > 0 else 0.0
        return max(service, generator)

    @property
    def error_rate(self) -> float:
        return self.errors / self.intended if self.intended else 0.0

    @property
    def throughput_ratio(self) -> float:
        return self.achieved_rps / self.rate if self.rate else 1.0


@dataclass(frozen=True)
class Check:
    """One budget as judged: ``measured`` and ``budget`` as text, ``ok`` or not."""

    name: str
    ok: bool
    measured: str
    budget: str
    reason: str = ""
    #: a route's p90 over its budget in every paired round (see :func:`judge`)
    every_round: bool = False


@dataclass(frozen=True)
class Verdict:
    status: GateStatus
    summary: str
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]
    worst: tuple[tuple[RouteFigures, RouteFigures], ...]


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def _routes(runs: Sequence[Run]) -> tuple[RouteFigures, ...]:
    by_route: dict[str, list[list[Sample]]] = {}
    for number, run in enumerate(runs):
        for sample in run.samples:
            rounds = by_route.setdefault(sample.route, [[] for _ in runs])
            rounds[number].append(sample)
    figures = []
    for route, rounds in sorted(by_route.items()):
        items = [sample for one in rounds for sample in one]
        latencies = [s.latency_ms for s in items if not s.failed]
        errors = sum(1 for s in items if s.failed)
        per_round = tuple(
            percentile([s.latency_ms for s in one if not s.failed], 0.9) for one in rounds
        )
        figures.append(
            RouteFigures(
                route, len(items), errors, percentile(latencies, 0.5),
                percentile(latencies, 0.99), percentile(latencies, 0.9), per_round,
            )
        )  # fmt: skip
    return tuple(figures)


def _per_second(samples: Sequence[Sample]) -> tuple[tuple[int, float], ...]:
    """(answers, p99 ms) for each second of the schedule, by due time."""
    seconds: dict[int, list[float]] = {}
    for sample in samples:
        seconds.setdefault(int(sample.at), []).append(sample.latency_ms)
    last = max(seconds, default=-1)
    return tuple(
        (len(seconds.get(s, [])), round(percentile(seconds.get(s, []), 0.99), 2))
        for s in range(last + 1)
    )


def summarize(
    label: str, runs: Sequence[Run], usages: Sequence[Usage], *, rate: float, slice_seconds: float
) -> Side:
    """One side's :class:`Side` from its runs (the rounds of the schedule, each
    ``slice_seconds`` long, alternated with the other side's) and the usage measured
    meanwhile. Its p99 is the median of the rounds' p99s, so a stall of the host during
    one round does not decide the verdict; every other figure pools the rounds."""
    samples = [
        replace(sample, at=sample.at + number * slice_seconds)
        for number, run in enumerate(runs)
        for sample in run.samples
    ]
    ok = [s.latency_ms for s in samples if not s.failed]
    errors = sum(1 for s in samples if s.failed)
    late = sum(1 for s in samples if s.lag_ms > LATE_MS)
    duration = slice_seconds * len(runs)
    wall = sum(max(slice_seconds, run.seconds) for run in runs) or 1e-9
    dispatched = sum(
        max((s.at + s.lag_ms / 1000 for s in run.samples), default=0.0) + 1 / rate
        for run in runs
    ) if rate else 1.0  # fmt: skip
    rounds = [percentile([s.latency_ms for s in run.samples if not s.failed], 0.99) for run in runs]
    return Side(
        label=label, rate=rate, duration=duration, intended=len(samples),
        completed=len(samples) - errors, errors=errors,
        p50_ms=percentile(ok, 0.5),
        p99_ms=statistics.median(rounds) if rounds else 0.0, p99_rounds=tuple(rounds),
        achieved_rps=len(ok) / wall, sent_rps=len(samples) / max(dispatched, 1e-9),
        lag_p99_ms=percentile([s.lag_ms for s in samples], 0.99),
        late_share=late / len(samples) if samples else 0.0,
        generator_cpu=sum(run.cpu_seconds for run in runs) / wall,
        cpu_seconds=sum(u.cpu_seconds for u in usages),
        peak_rss_mb=max((u.peak_rss_mb for u in usages), default=0.0),
        host_busy=max((u.host_busy for u in usages), default=0.0),
        wait_seconds=sum(u.wait_seconds for u in usages),
        generator_wait_seconds=sum(run.wait_seconds for run in runs),
        routes=_routes(runs), per_second=_per_second(samples),
    )  # fmt: skip


def sizing(side: Side) -> list[str]:
    """Why ``side``'s run was not the load asked for (empty: it was)."""
    if side.rate <= 0:
        return []
    if (
        side.late_share <= MAX_LATE_SHARE
        and side.generator_cpu <= MAX_GENERATOR_CPU
        and side.sent_rps >= MIN_SENT_SHARE * side.rate
    ):
        return []
    return [
        f"the load generator could not keep {side.rate:.0f} req/s against the {side.label}: "
        f"{side.late_share:.1%} of requests went out over {LATE_MS:.0f} ms late "
        f"(p99 lag {side.lag_p99_ms:.0f} ms, its thread at {side.generator_cpu:.0%} of a "
        f"core); it kept about {side.sent_rps:.0f} req/s, {side.sent_rps / side.rate:.0%} "
        "of the rate: lower `scale`, or run the gate on a host with more CPU"
    ]


def _absorbs(baseline: Side, budgets: Budgets) -> list[str]:
    """Why this host cannot absorb the rate even with the release production runs."""
    if baseline.throughput_ratio >= budgets.min_throughput_ratio:
        return []
    cpu = (
        f"; the host's CPU was the limit ({baseline.host_busy:.0%} busy)"
        if baseline.host_busy >= HOST_BUSY
        else f" (the host's CPU {baseline.host_busy:.0%} busy)"
    )
    return [
        f"this host cannot absorb {baseline.rate:.0f} req/s with the {baseline.label}: it "
        f"answered {baseline.achieved_rps:.0f} req/s ({baseline.throughput_ratio:.0%}, "
        f"budget {budgets.min_throughput_ratio:.0%}){cpu}; a candidate cannot be judged "
        "at that rate here: lower `scale` or run staging on a larger host"
    ]


def _ratio(candidate: float, baseline: float) -> float:
    if baseline <= 0:
        return 1.0 if candidate <= 0 else math.inf
    return candidate / baseline


def paired(
    candidate: Sequence[float], baseline: Sequence[float], pooled: tuple[float, float]
) -> tuple[float, float]:
    """(ratio, difference) of a latency, candidate to baseline: the medians over rounds of
    each round's pair (a baseline round and the candidate round right after it share the
    host's conditions; one disturbed round does not decide), or of the ``pooled``
    figures when the rounds are not paired."""
    if candidate and len(candidate) == len(baseline):
        ratios = [_ratio(c, b) for c, b in zip(candidate, baseline, strict=True)]
        return statistics.median(ratios), statistics.median(
            [c - b for c, b in zip(candidate, baseline, strict=True)]
        )
    return _ratio(*pooled), pooled[0] - pooled[1]


def _latency_check(
    name: str,
    figures: tuple[float, float],
    rounds: tuple[Sequence[float], Sequence[float]],
    limit: float | None,
    noise: float,
) -> Check | None:
    """``figures`` (candidate, baseline) judged by their paired rounds (:func:`paired`)."""
    if limit is None:
        return None
    ratio, difference = paired(rounds[0], rounds[1], figures)
    ok = ratio <= limit or difference <= noise
    measured = f"{figures[0]:.1f} ms vs {figures[1]:.1f} ms ({ratio:.2f}x)"
    reason = "" if ok else f"{name} {measured}, budget {limit:g}x"
    pairs = list(zip(rounds[0], rounds[1], strict=False)) if len(rounds[0]) > 1 else []
    every = bool(pairs) and all(c > limit * b and c - b > noise for c, b in pairs)
    budget = f"<= {limit:g}x (or within {noise:.1f} ms)"
    return Check(name, ok, measured, budget, reason, every_round=not ok and every)


def _usage_check(name: str, candidate: float, baseline: float, limit: float | None) -> Check | None:
    if limit is None:
        return None
    ratio = _ratio(candidate, baseline)
    measured = f"{candidate:.2f} vs {baseline:.2f} ({ratio:.2f}x)"
    ok = ratio <= limit
    return Check(name, ok, measured, f"<= {limit:g}x", "" if ok else f"{name} {measured}, "
                 f"budget {limit:g}x")  # fmt: skip


def checks(baseline: Side, candidate: Side, budgets: Budgets) -> list[Check]:
    """Every budget judged for ``candidate`` against ``baseline``."""
    b, c = baseline, candidate
    rate = f"{c.error_rate:.2%} ({c.errors} of {c.intended})"
    found: list[Check | None] = [
        Check("error rate", c.error_rate <= budgets.max_error_rate, rate,
              f"<= {budgets.max_error_rate:.2%}",
              "" if c.error_rate <= budgets.max_error_rate
              else f"error rate {rate}, budget {budgets.max_error_rate:.2%}"),
        Check("throughput", c.throughput_ratio >= budgets.min_throughput_ratio,
              f"{c.achieved_rps:.1f} of {c.rate:.1f} req/s ({c.throughput_ratio:.0%})",
              f">= {budgets.min_throughput_ratio:.0%}",
              "" if c.throughput_ratio >= budgets.min_throughput_ratio
              else f"throughput {c.achieved_rps:.1f} of {c.rate:.1f} req/s "
              f"({c.throughput_ratio:.0%}), budget {budgets.min_throughput_ratio:.0%}"
              + (f" (the host's CPU {c.host_busy:.0%} busy)" if c.host_busy >= HOST_BUSY
                 else "")),
        _latency_check("p99", (c.p99_ms, b.p99_ms), (c.p99_rounds, b.p99_rounds),
                       budgets.max_p99_ratio, budgets.noise_ms),
        _latency_check("p50", (c.p50_ms, b.p50_ms), ((), ()), budgets.max_p50_ratio,
                       budgets.noise_ms),
        _usage_check("cpu seconds", c.cpu_seconds, b.cpu_seconds, budgets.max_cpu_ratio),
        _usage_check("memory MB", c.peak_rss_mb, b.peak_rss_mb, budgets.max_memory_ratio),
    ]  # fmt: skip
    found.extend(_route_checks(baseline, candidate, budgets))
    return [check for check in found if check is not None]


def _route_checks(baseline: Side, candidate: Side, budgets: Budgets) -> list[Check | None]:
    before = {r.route: r for r in baseline.routes}
    found: list[Check | None] = []
    for route in candidate.routes:
        was = before.get(route.route)
        if was is None or min(was.count, route.count) < MIN_ROUTE_SAMPLES:
            continue
        found.append(
            _latency_check(
                f"{route.route} p90", (route.p90_ms, was.p90_ms),
                (route.p90_rounds, was.p90_rounds), budgets.max_p99_ratio, budgets.noise_ms,
            )
        )  # fmt: skip
    return found


def worst_routes(
    baseline: Side, candidate: Side, count: int = 5
) -> tuple[tuple[RouteFigures, RouteFigures], ...]:
    """The routes whose p90 grew most (candidate minus baseline), with both figures."""
    before = {r.route: r for r in baseline.routes}
    pairs = [(before[r.route], r) for r in candidate.routes if r.route in before]
    pairs.sort(key=lambda pair: pair[1].p90_ms - pair[0].p90_ms, reverse=True)
    return tuple(pairs[:count])


def judge(baseline: Side, candidate: Side, budgets: Budgets) -> Verdict:
    """The verdict (see the module docstring)."""
    worst = worst_routes(baseline, candidate)
    problems = sizing(baseline) + sizing(candidate)
    problems += _absorbs(baseline, budgets) if not problems else []
    if problems:
        return Verdict("error", problems[0], tuple(problems), (), worst)
    judged = tuple(checks(baseline, candidate, budgets))
    reasons = tuple(check.reason for check in judged if not check.ok)
    busy = _saturated_host(baseline, candidate, budgets)
    steady = tuple(c.reason for c in judged if c.every_round and c.name.endswith(" p90"))
    if reasons and busy and steady:  # a route slower in every round: not the host's doing
        note = "; in every round, on a host whose CPU was saturated"
        return Verdict("failed", steady[0] + note, steady, judged, worst)
    if reasons and busy:
        return Verdict("error", busy, (busy, *reasons), judged, worst)
    if reasons:
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        return Verdict("failed", reasons[0] + more, reasons, judged, worst)
    return Verdict("passed", _passed(baseline, candidate), (), judged, worst)


#: a candidate using this much more CPU than the baseline is what saturated the host
HEAVIER = 1.5


def _saturated_host(baseline: Side, candidate: Side, budgets: Budgets) -> str:
    """Why the comparison was not fair when the host's CPU was saturated during either
    side's run and the candidate did not cause it (its CPU within ``max_cpu_ratio``, or
    :data:`HEAVIER` times the baseline's); "" when it was fair."""
    if max(baseline.host_busy, candidate.host_busy) < HOST_BUSY:
        return ""
    if max(baseline.wait_share, candidate.wait_share) < WAIT_SHARE:
        return ""  # busy with other work, but the service and the generator got their CPU
    heavier = budgets.max_cpu_ratio or HEAVIER
    if _ratio(candidate.cpu_seconds, baseline.cpu_seconds) > heavier:
        return ""
    return (
        f"the host's CPU was saturated (busy {baseline.host_busy:.0%} during the baseline, "
        f"{candidate.host_busy:.0%} during the candidate; it or the generator waited for a CPU "
        f"{baseline.wait_share:.0%} / {candidate.wait_share:.0%} of the time they wanted "
        "one) while the candidate used "
        f"{_ratio(candidate.cpu_seconds, baseline.cpu_seconds):.2f}x the baseline's CPU: "
        f"this host cannot absorb {candidate.rate:.0f} req/s beside what else runs on it, "
        "so its figures say nothing of the candidate; run the gate on a quieter host or "
        "lower `scale`"
    )


def _passed(baseline: Side, candidate: Side) -> str:
    return (
        f"{candidate.rate:.0f} req/s for {candidate.duration:g}s: p99 "
        f"{candidate.p99_ms:.1f} ms vs {baseline.p99_ms:.1f} ms, p50 {candidate.p50_ms:.1f} ms "
        f"vs {baseline.p50_ms:.1f} ms, errors {candidate.error_rate:.2%}, throughput "
        f"{candidate.throughput_ratio:.0%}"
    )
