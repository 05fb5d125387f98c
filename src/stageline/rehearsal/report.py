"""A rehearsal's report as text (for people), JSON (for scripts) and JUnit XML (for CI).
Pure: facts and verdict in, strings and data out."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from typing import Any

from stageline.rehearsal.facts import RehearsalFacts
from stageline.rehearsal.judge import Finding, Verdict, short
from stageline.rehearsal.tools import compact_route, readable, revision_changes

#: the JUnit test cases, one per check a rehearsal makes, and the findings each holds
CHECKS = {
    "upgrade": "the upgrade applies",
    "downgrade": "a rollback path back to production's revision",
    "schema": "the schema comes back exactly",
    "data": "the round trip keeps the data",
    "reapply": "the migration applies again after a rollback",
    "stall": "the downtime window fits the budget",
    "rewrite": "no unallowed rewrite of a big table",
    "lock": "no unallowed AccessExclusiveLock on a big table",
    "blocking": "no write-blocking work over the budget at production's size",
    "compat": "the release running now works on the upgraded schema",
}
_MARK = {"fail": "FAIL", "warn": "warn", "advice": "advice"}


def as_json(facts: RehearsalFacts, verdict: Verdict) -> dict[str, Any]:
    data: dict[str, Any] = {
        "passed": verdict.passed,
        "summary": verdict.summary,
        "downtime_ms": verdict.total_ms,
        "downtime_scaled_ms": verdict.total_scaled_ms,
        "findings": [dataclasses.asdict(f) for f in verdict.findings],
        "waivers": verdict.waivers,
        "stalls": [dataclasses.asdict(s) for s in verdict.stalls],
        "facts": dataclasses.asdict(facts),
    }
    result: Any = json.loads(json.dumps(data, default=str))
    return dict(result)


def revision_names(facts: RehearsalFacts) -> dict[str, str]:
    """What a report calls each revision of the rehearsal when it is too long to repeat."""
    names = {facts.production_revision: "production's revision",
             facts.head_revision: "the release's head"}  # fmt: skip
    if facts.rollback_revision:
        names.setdefault(facts.rollback_revision, "the floor")
    return names


def text(facts: RehearsalFacts, verdict: Verdict) -> str:
    """The report for people. Long revisions (Django's per-app targets) are shown once, one
    line per app that changes, then called by name; no line is longer than 300 characters."""
    route = compact_route(facts.production_revision, facts.head_revision)
    changes = revision_changes(facts.production_revision, facts.head_revision)
    lines = [f"migration rehearsal ({facts.tool}): {route}"]
    if len(changes) > 1 or route != f"{facts.production_revision} -> {facts.head_revision}":
        lines += [f"  {change}" for change in changes]
    lines += [
        f"copy: {facts.clone_method}",
        f"verdict: {'passed' if verdict.passed else 'FAILED'}: {verdict.summary}",
        "",
        "steps:",
    ]
    for step in facts.steps:
        where = f" at {step.step}" if step.step else ""
        state = "ok" if step.ok else f"FAILED{where}"
        moved = "" if step.moved else f" (should be {step.expected}: the copy did not move)"
        lines.append(
            f"  {step.name:<14} {state:<10} {step.seconds:7.2f}s  now at {step.reached}{moved}"
        )
    scaled = any(s.factor != 1.0 for s in verdict.stalls)
    lines += ["", f"downtime window: {verdict.total_ms:.0f} ms measured"]
    if scaled:
        lines[-1] += f", {verdict.total_scaled_ms:.0f} ms scaled to production's table sizes"
    for stall in sorted(verdict.stalls, key=lambda s: -s.scaled_ms):
        if stall.measured_ms <= 0:
            continue
        factor = f" (x{stall.factor} -> {stall.scaled_ms:.0f} ms)" if stall.factor != 1.0 else ""
        cause = f", by {stall.caused_by[0]}" if stall.caused_by else ""
        lines.append(
            f"  {stall.table}: {stall.measured_ms:.0f} ms{factor} (reads {stall.read_ms:.0f}, "
            f"writes {stall.write_ms:.0f}){cause}"
        )
    if not any(s.measured_ms > 0 for s in verdict.stalls):
        lines.append(f"  no probe was stalled ({len(facts.stalls)} tables probed)")
    for probed in facts.stalls:
        if probed.note:
            lines.append(f"  probes of {probed.table} stopped: {probed.note}")
    noise = sum(s.unexplained_ms for s in verdict.stalls)
    if noise > 0:
        lines.append(
            f"  (probes were also slow for {noise:.0f} ms in all with no lock of the migration "
            "to explain it: the server's load, not counted)"
        )
    trace = facts.trace
    logged = "statement log joined" if trace.logged else "no statement log"
    lines += ["", f"locks taken by the migration beyond plain reads ({trace.samples} samples, "
              f"worst gap {trace.worst_gap_ms:.0f} ms; {logged}):"]  # fmt: skip
    shown = [
        span for span in trace.locks
        # plain reads (AccessShareLock held) block only AccessExclusiveLock: in the JSON
        if span.kind in ("table", "new", "temp")
        and not (span.granted and span.mode == "AccessShareLock")
    ]  # fmt: skip
    for span in shown:
        how = "held" if span.granted else "WAITED"
        how += " (log)" if span.source == "log" else ""
        lines.append(
            f"  {span.relation:<20} {span.mode:<24} {how} {span.start:6.0f}-{span.end:6.0f} ms"
            + (f"  {short(span.statement, 70)}" if span.statement else "")
        )
    if not shown:
        lines.append("  none seen (each was shorter than the sampling interval, if any)")
    facts_line = [
        f"rewritten: {', '.join(trace.rewrites) or 'none'}",
        f"read in full: {', '.join(trace.full_scans) or 'none'}",
        f"created: {', '.join(trace.created) or 'none'}",
        f"dropped: {', '.join(trace.dropped) or 'none'}",
    ]
    if trace.renamed:
        facts_line.append("renamed: " + ", ".join(f"{a} -> {b}" for a, b in trace.renamed.items()))
    lines += ["", *facts_line]
    lines += ["", "findings:"]
    for finding in verdict.findings:
        mark = "waived" if finding.waived else _MARK[finding.severity]
        waived = f" (waived: {finding.waived})" if finding.waived else ""
        lines.append(f"  {mark:<6} {finding.message}{waived}")
    if not verdict.findings:
        lines.append("  none")
    if verdict.waivers:
        lines += ["", "waivers:"] + [f"  {line}" for line in verdict.waivers]
    if facts.timings:
        parts = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in facts.timings.items())
        lines += ["", f"time: {parts}"]
    if facts.notes or scaled:
        lines += ["", "notes:"]
        lines += [f"  {note}" for note in facts.notes]
        if scaled:
            lines.append(
                "  stalls are scaled by production's table size over the copy's (a rewrite "
                "or a full scan takes time in proportion to the table)"
            )
    names = revision_names(facts)
    return "\n".join(lines[:1] + [readable(line, names) for line in lines[1:]]) + "\n"


def junit(facts: RehearsalFacts, verdict: Verdict, name: str = "migrations") -> str:
    """One test case per check; a check with a failing finding is a failure."""
    by_check: dict[str, list[Finding]] = {check: [] for check in CHECKS}
    for finding in verdict.findings:
        if finding.check in by_check:
            by_check[finding.check].append(finding)
    failures = sum(1 for found in by_check.values() if any(f.severity == "fail" for f in found))
    attrs = {"tests": str(len(CHECKS)), "failures": str(failures), "errors": "0"}
    root = ET.Element("testsuites", {"name": "stageline.rehearsal", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": f"stageline.rehearsal.{name}", **attrs})
    for check, title in CHECKS.items():
        case = ET.SubElement(suite, "testcase", {"classname": name, "name": f"{check}: {title}"})
        failing = [f for f in by_check[check] if f.severity == "fail"]
        if failing:
            element = ET.SubElement(case, "failure", {"message": failing[0].message})
            element.text = "\n".join(f.message for f in failing)
        elif by_check[check]:
            ET.SubElement(case, "system-out").text = "\n".join(f.message for f in by_check[check])
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
