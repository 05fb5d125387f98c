"""An A/B load run's report: JSON (evidence, the dashboard's charts), text (the CLI) and
JUnit XML (one test case per budget, for CI). Pure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from stageline.load.judge import RouteFigures, Side, Verdict


def _side_json(side: Side) -> dict[str, Any]:
    return {
        "label": side.label,
        "rate": round(side.rate, 2),
        "duration": side.duration,
        "intended": side.intended,
        "completed": side.completed,
        "errors": side.errors,
        "error_rate": round(side.error_rate, 5),
        "p50_ms": round(side.p50_ms, 2),
        "p99_ms": round(side.p99_ms, 2),
        "achieved_rps": round(side.achieved_rps, 2),
        "throughput_ratio": round(side.throughput_ratio, 4),
        "sent_rps": round(side.sent_rps, 2),
        "lag_p99_ms": round(side.lag_p99_ms, 2),
        "late_share": round(side.late_share, 4),
        "generator_cpu": round(side.generator_cpu, 3),
        "cpu_seconds": round(side.cpu_seconds, 3),
        "peak_rss_mb": round(side.peak_rss_mb, 1),
        "host_busy": round(side.host_busy, 3),
        "cpu_wait_share": round(side.wait_share, 3),
        "routes": [_route_json(route) for route in side.routes],
        #: [answers, p99 ms] per second of the schedule (the dashboard's charts)
        "per_second": [list(point) for point in side.per_second],
    }


def _route_json(route: RouteFigures) -> dict[str, Any]:
    return {
        "route": route.route, "count": route.count, "errors": route.errors,
        "p50_ms": round(route.p50_ms, 2), "p90_ms": round(route.p90_ms, 2),
        "p99_ms": round(route.p99_ms, 2),
    }  # fmt: skip


def _worst_json(baseline: RouteFigures, candidate: RouteFigures) -> dict[str, Any]:
    return {
        "route": candidate.route,
        "baseline_p90_ms": round(baseline.p90_ms, 2),
        "candidate_p90_ms": round(candidate.p90_ms, 2),
        "baseline_p99_ms": round(baseline.p99_ms, 2),
        "candidate_p99_ms": round(candidate.p99_ms, 2),
    }


def as_json(
    sides: tuple[Side, Side],
    verdict: Verdict,
    rate: float,
    peak_rps: float,
    scale: float,
    source: str,
    mix: Mapping[str, float],
) -> dict[str, Any]:
    """The run as JSON data: both sides, the budgets judged, the worst routes."""
    baseline, candidate = sides
    return {
        "source": source,
        "peak_rps": round(peak_rps, 2),
        "scale": scale,
        "rate": round(rate, 2),
        "mix": {route: round(share, 4) for route, share in sorted(mix.items())},
        "baseline": _side_json(baseline),
        "candidate": _side_json(candidate),
        "checks": [
            {"name": c.name, "ok": c.ok, "measured": c.measured, "budget": c.budget}
            for c in verdict.checks
        ],
        "reasons": list(verdict.reasons),
        "worst_routes": [_worst_json(b, c) for b, c in verdict.worst],
    }


def text(
    sides: tuple[Side, Side],
    verdict: Verdict,
    rate: float,
    peak_rps: float,
    scale: float,
    source: str,
) -> str:
    """The report for people: the load, both sides, per route, the verdict's reasons."""
    baseline, candidate = sides
    lines = [
        f"load: {rate:.1f} req/s ({scale:g} x {source}'s peak {peak_rps:.1f} req/s) for "
        f"{candidate.duration:g}s per side (alternated in rounds), {candidate.intended} "
        "requests each",
        f"{'':34}{'p50 ms':>9}{'p99 ms':>9}{'errors':>9}{'req/s':>9}{'cpu s':>8}{'MB':>8}",
    ]
    for side in sides:
        lines.append(
            f"{side.label[:34]:34}{side.p50_ms:9.1f}{side.p99_ms:9.1f}{side.error_rate:9.2%}"
            f"{side.achieved_rps:9.1f}{side.cpu_seconds:8.2f}{side.peak_rss_mb:8.0f}"
        )
    lines.append(
        f"generator: p99 lag {candidate.lag_p99_ms:.1f} ms, thread at "
        f"{max(baseline.generator_cpu, candidate.generator_cpu):.0%} of a core; host CPU "
        f"busy {baseline.host_busy:.0%} / {candidate.host_busy:.0%}, the services waited "
        f"for a CPU {baseline.wait_share:.0%} / {candidate.wait_share:.0%} of the time"
    )
    lines.append(f"{'route':34}{'count':>7}{'p90 before':>12}{'p90 now':>10}{'errors':>8}")
    before = {route.route: route for route in baseline.routes}
    for route in candidate.routes:
        was = before.get(route.route)
        lines.append(
            f"{route.route[:34]:34}{route.count:7}"
            f"{(was.p90_ms if was else 0):12.1f}{route.p90_ms:10.1f}{route.errors:8}"
        )
    if verdict.worst:
        worst = ", ".join(
            f"{c.route} ({c.p90_ms - b.p90_ms:+.1f} ms)" for b, c in verdict.worst[:3]
        )
        lines.append(f"worst routes (p90 growth): {worst}")
    lines.append(f"verdict: {verdict.status}")
    lines.extend(f"  - {reason}" for reason in verdict.reasons)
    return "\n".join(lines) + "\n"


def junit(verdict: Verdict, name: str = "load") -> str:
    """One test case per budget judged (or one error case when the run was unfit)."""
    classname = f"stageline.{name}"
    root = ET.Element("testsuites", {"name": "stageline"})
    suite = ET.SubElement(root, "testsuite", {"name": classname})
    if verdict.status == "error":
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": "sizing"})
        error = ET.SubElement(case, "error", {"message": verdict.summary, "type": "error"})
        error.text = "\n".join(verdict.reasons)
    for check in verdict.checks:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": check.name})
        ET.SubElement(case, "system-out").text = f"{check.measured} (budget {check.budget})"
        if not check.ok:
            failure = ET.SubElement(case, "failure", {"message": check.reason, "type": "failure"})
            failure.text = check.reason
    failures = sum(1 for check in verdict.checks if not check.ok)
    errors = 1 if verdict.status == "error" else 0
    suite.set("tests", str(len(verdict.checks) + errors))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
