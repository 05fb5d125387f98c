"""Judge a rehearsal: facts in, findings and a verdict out. Pure (no I/O), so every rule
is tested on hand-made facts.

A finding is ``fail`` (the gate fails), ``warn`` (worth knowing, allowed) or ``advice``.
The gate fails when the upgrade, the downgrade or the second upgrade fails, when the
schema does not come back, when the stall exceeds a budget (total or per table), when a
table at or over the size threshold (table, indexes and TOAST) is rewritten or locked
``AccessExclusiveLock`` without being allowed, when a lock that blocks writes is held
while a table is rewritten, read in full or indexed for longer than ``max_blocking_ms``
projected to production's size (``blocking``), when the round trip loses data that is
not allowed, when a step left the copy where it was (the tool ran somewhere else), or
when the upgraded schema breaks the release running now (``compat``).

Waivers (``Budgets.waivers``) turn a failing finding whose message contains their
``match`` into a warning marked ``waived`` until they expire; an expired waiver counts
for nothing and is listed in ``Verdict.waivers``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from stageline.rehearsal.attribution import strength
from stageline.rehearsal.blocking import BLOCKS_READS, BLOCKS_WRITES, blocking, duration, message
from stageline.rehearsal.compat import describe
from stageline.rehearsal.facts import Budgets, LockSpan, ProbeStall, RehearsalFacts, Waiver
from stageline.rehearsal.probes import Sample, stall_for, total_window

Severity = Literal["fail", "warn", "advice"]
__all__ = ["BLOCKS_READS", "BLOCKS_WRITES"]  # the lock modes a read and a write wait behind


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # "upgrade", "downgrade", "schema", "data", "stall", "rewrite", "lock", ...
    message: str
    table: str = ""
    step: str = ""
    #: why a failure was accepted (a waiver's reason and expiry); its severity is "warn"
    waived: str = ""


@dataclass(frozen=True)
class TableStall:
    table: str
    measured_ms: float
    scaled_ms: float
    factor: float
    read_ms: float
    write_ms: float
    caused_by: list[str] = field(default_factory=list)
    #: ms probes were slow without a lock of the migration to explain it (server load)
    unexplained_ms: float = 0.0


@dataclass(frozen=True)
class Verdict:
    passed: bool
    findings: list[Finding]
    stalls: list[TableStall]
    total_ms: float
    total_scaled_ms: float
    summary: str
    #: the waivers that applied, and the expired ones that did not, as lines for the report
    waivers: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fail"]


def short(statement: str, limit: int = 120) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def scale_factor(table: str, clone: dict[str, int], production: dict[str, int]) -> float:
    """Production's size of ``table`` over the clone's (1.0 when unknown or within 10%)."""
    ours, theirs = clone.get(table, 0), production.get(table, 0)
    if ours <= 0 or theirs <= 0:
        return 1.0
    factor = theirs / ours
    return 1.0 if abs(factor - 1.0) <= 0.1 else round(factor, 2)


def attribute(stall: ProbeStall, locks: list[LockSpan], pad: float = 0.0) -> list[str]:
    """The statements whose locks on the table overlap its stalled windows."""
    found: list[str] = []
    for span in locks:
        if span.relation != stall.table or span.mode not in BLOCKS_WRITES:
            continue
        start_, end_ = span.start - pad, span.end + pad
        if any(start_ <= end and start <= end_ for start, end in stall.windows):
            text = short(span.statement) or f"(a statement holding {span.mode})"
            if text not in found:
                found.append(text)
    return found


def blame(stall: ProbeStall, locks: list[LockSpan], pad: float) -> ProbeStall:
    """Only the slow probes of ``stall`` that a lock of the migration explains: a read
    overlapping an ``AccessExclusiveLock`` the migration held or waited for on that table,
    a write overlapping any lock that blocks writes. Lock spans are widened by ``pad``
    (the sampling gap: a lock may be taken just after one sample and released just
    before the next). Slowness with no such lock is the server's load, not a stall."""

    def explained(ops: list[tuple[float, float]], modes: frozenset[str]) -> list[Sample]:
        spans = [
            (s.start - pad, s.end + pad) for s in locks
            if s.relation == stall.table and s.mode in modes
        ]  # fmt: skip
        return [(a, b, True) for a, b in ops if any(x <= b and a <= y for x, y in spans)]

    reads = explained(stall.slow_reads, BLOCKS_READS)
    writes = explained(stall.slow_writes, BLOCKS_WRITES)
    blamed = stall_for(stall.table, reads, writes, threshold=-1.0, note=stall.note)
    return dataclasses.replace(blamed, operations=stall.operations)


def _size(table: str, facts: RehearsalFacts) -> int:
    return facts.production_sizes.get(table) or facts.clone_sizes.get(table, 0)


def _steps(facts: RehearsalFacts) -> list[Finding]:
    findings: list[Finding] = []
    route = f"from {facts.head_revision} to {facts.production_revision}"
    for step in facts.steps:
        if step.ok:
            continue
        error = _error(step.output)
        if not step.moved:
            findings.append(Finding(
                "fail", _CHECK_OF_STEP.get(step.name, "upgrade"),
                f"the copy did not move: does the tool read other variables? The {step.name} "
                f"should have brought the copy to {step.expected}; it is at "
                f"{step.reached or 'an unknown revision'}",
            ))  # fmt: skip
        elif step.name == "prepare":
            findings.append(Finding(
                "fail", "downgrade",
                f"no rollback path from {step.command or facts.head_revision} to "
                f"{facts.production_revision}: bringing the clone to production's revision "
                f"failed at {step.step or 'an unknown step'}: {error}", step=step.step,
            ))  # fmt: skip
        elif step.name == "downgrade":
            findings.append(Finding(
                "fail", "downgrade",
                f"no rollback path {route}: the downgrade failed at "
                f"{step.step or 'an unknown step'}: {error} (database left at {step.reached})",
                step=step.step,
            ))  # fmt: skip
        elif step.name == "upgrade again":
            findings.append(Finding(
                "fail", "reapply",
                f"the migration cannot be applied again after a rollback: {error}",
                step=step.step,
            ))  # fmt: skip
        else:
            state = f"database left at {step.reached or 'an unknown revision'}"
            if step.reached and step.reached != facts.production_revision:
                state = f"database left half-migrated at {step.reached}"
            findings.append(Finding(
                "fail", "upgrade",
                f"the upgrade failed at {step.step or 'an unknown step'}: {error} ({state})",
                step=step.step,
            ))  # fmt: skip
    return findings


_CHECK_OF_STEP = {"prepare": "downgrade", "downgrade": "downgrade", "upgrade again": "reapply"}


def _compat(facts: RehearsalFacts) -> list[Finding]:
    return [Finding("fail", "compat", describe(issue), table=issue.table) for issue in facts.compat]


def waive(
    findings: list[Finding], waivers: tuple[Waiver, ...], today: date
) -> tuple[list[Finding], list[str]]:
    """Findings with the failures a live waiver matches turned into waived warnings, and
    the report lines of the waivers (used, expired). Pure."""
    lines: list[str] = []
    live = [w for w in waivers if w.expires >= today]
    for waiver in waivers:
        if waiver.expires < today:
            lines.append(
                f"expired {waiver.expires.isoformat()}, not applied: {waiver.match!r} "
                f"({waiver.reason})"
            )
    out: list[Finding] = []
    for finding in findings:
        match = next(
            (w for w in live if finding.severity == "fail"
             and w.match.lower() in finding.message.lower()), None,
        )  # fmt: skip
        if match is None:
            out.append(finding)
            continue
        why = f"{match.reason} (until {match.expires.isoformat()})"
        out.append(dataclasses.replace(finding, severity="warn", waived=why))
        lines.append(f"waived: {finding.message} -- {why}")
    return out, lines


def error_line(output: str) -> str:
    """The most telling line of a failed command: the last error-looking one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"(Error|ERROR|Exception|FATAL|error:)", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _error(output: str) -> str:
    return short(error_line(output), 200)


def _stalls(facts: RehearsalFacts, budgets: Budgets) -> tuple[list[TableStall], list[Finding]]:
    stalls: list[TableStall] = []
    findings: list[Finding] = []
    for raw in facts.stalls:
        stall = blame(raw, facts.trace.locks, facts.trace.worst_gap_ms)
        factor = scale_factor(stall.table, facts.clone_sizes, facts.production_sizes)
        scaled = round(stall.total_ms * factor, 1)
        stalls.append(TableStall(
            stall.table, stall.total_ms, scaled, factor, stall.read_ms, stall.write_ms,
            attribute(stall, facts.trace.locks, facts.trace.worst_gap_ms),
            round(max(0.0, raw.total_ms - stall.total_ms), 1),
        ))  # fmt: skip
        limit = budgets.max_stall_ms_per_table
        if limit is not None and scaled > limit:
            by = stalls[-1].caused_by
            cause = f" by {by[0]}" if by else ""
            scaled_note = f" (scaled x{factor} to production's size)" if factor != 1.0 else ""
            findings.append(Finding(
                "fail", "stall",
                f"{stall.table} stalled {scaled:.0f} ms{scaled_note}{cause}, "
                f"over the {limit:.0f} ms per-table budget", table=stall.table,
            ))  # fmt: skip
    return stalls, findings


def _locks(facts: RehearsalFacts, budgets: Budgets) -> list[Finding]:
    findings: list[Finding] = []
    created = set(facts.trace.created)
    for table, statement in sorted(facts.trace.rewrites.items()):
        size = _size(table, facts)
        by = f" by {short(statement)}" if statement else ""
        big = size >= budgets.size_threshold
        allowed = table in budgets.allow_rewrite
        severity: Severity = "fail" if big and not allowed else "warn"
        why = "allowed" if allowed else f"{size} bytes, threshold {budgets.size_threshold}"
        findings.append(Finding(
            severity, "rewrite", f"{table} was rewritten{by} ({why})", table=table,
        ))  # fmt: skip
    seen: set[str] = set()
    for span in facts.trace.locks:
        if span.mode != "AccessExclusiveLock" or span.kind != "table" or not span.granted:
            continue
        if span.relation in created or span.relation in seen:
            continue
        seen.add(span.relation)
        size = _size(span.relation, facts)
        allowed = span.relation in budgets.allow_access_exclusive
        big = size >= budgets.size_threshold
        # held while the table is rewritten or read in full, the lock lasts as long as
        # the table is big; a metadata-only change holds it briefly (a warning)
        heavy = _heavy(span.relation, facts)
        severity = "fail" if big and heavy and not allowed else "warn"
        if allowed:
            why = "allowed"
        elif heavy:
            why = f"while it was rewritten or scanned: {size} bytes, threshold "
            why += str(budgets.size_threshold)
        else:
            why = "metadata only"
        findings.append(Finding(
            severity, "lock",
            f"{span.relation} locked AccessExclusiveLock (no reads or writes) for "
            f"{_held(span)} by {short(span.statement) or 'the migration'} ({why})",
            table=span.relation,
        ))  # fmt: skip
    for table, count in sorted(facts.trace.full_scans.items()):
        holding = [s for s in facts.trace.locks if s.relation == table and s.granted]
        strongest = max(holding, key=lambda s: strength(s.mode), default=None)
        under = f" under {strongest.mode}" if strongest else ""
        work = next((w for w in facts.trace.work if w.table == table), None)
        if work is not None:  # the statement that read it, and the lock held meanwhile
            under = (f" under {work.mode}" if work.mode else "") + (
                f" by {short(work.statement)}" if work.statement else ""
            )
        findings.append(Finding(
            "warn", "scan", f"{table} was read in full{under} ({count} full scan"
            f"{'s' if count > 1 else ''}; it takes longer the bigger the table)", table=table,
        ))  # fmt: skip
    for table in facts.trace.dropped:
        findings.append(Finding(
            "warn", "drop", f"{table} was dropped: the release running now may still use it",
            table=table,
        ))  # fmt: skip
    for old, new in sorted(facts.trace.renamed.items()):
        findings.append(Finding(
            "warn", "rename",
            f"{old} was renamed to {new}: the release running now still uses {old}",
            table=old,
        ))  # fmt: skip
    return findings


def _heavy(table: str, facts: RehearsalFacts) -> bool:
    """Whether ``table`` was rewritten or read in full under ``AccessExclusiveLock``: per
    statement where the work is charged to statements, else anywhere in the migration."""
    trace = facts.trace
    if trace.work:
        return any(w.table == table and w.mode == "AccessExclusiveLock" for w in trace.work)
    return table in trace.rewrites or table in trace.full_scans


def _held(span: LockSpan) -> str:
    return f"{span.ms:.0f} ms" if span.ms >= 1 else "less than a sampling interval"


def _blocking(facts: RehearsalFacts, budgets: Budgets) -> list[Finding]:
    """The blocking-work rule (``blocking``), and the ``statement_timeout`` that would
    bound each piece of blocking work over the budget (when the migration set none)."""
    findings: list[Finding] = []
    timed = any("statement_timeout" in s.text.lower() for s in facts.trace.statements)
    for projection, over in blocking(facts, budgets):
        work = projection.work
        text = message(projection, budgets, facts.tool)
        findings.append(Finding(
            "fail" if over else "warn", "blocking", text, table=work.table,
            step=short(work.statement),
        ))  # fmt: skip
        if over and budgets.max_blocking_ms is not None and not timed:
            limit = budgets.max_blocking_ms
            findings.append(Finding(
                "advice", "statement_timeout",
                f"with SET statement_timeout = '{limit:.0f}ms' the {work.mode} on "
                f"{work.table} would be given up after {duration(limit)} (the migration "
                f"fails, to be redone the safe way) instead of held "
                f"~{duration(projection.projected_ms)}", table=work.table,
            ))  # fmt: skip
    return findings


def lock_timeout_advice(facts: RehearsalFacts, budgets: Budgets) -> list[Finding]:
    """What a ``lock_timeout`` would have done, when the migration ran without one: per
    wait, and per table for the strongest lock held there (the longest of that mode).

    A waiting lock request queues every later read and write of that table behind it:
    a short ALTER behind a long reader stalls everything for the reader's duration. With
    ``lock_timeout = L`` the migration gives up after L ms (and can be retried), so the
    queue lasts at most L ms.
    """
    if facts.trace.lock_timeout_seen:
        return []
    limit = budgets.lock_timeout_ms
    advice: list[Finding] = []
    for span in facts.trace.locks:
        if span.granted or span.mode not in BLOCKS_WRITES or span.kind == "new":
            continue
        capped = min(span.ms, limit)
        advice.append(Finding(
            "advice", "lock_timeout",
            f"the migration waited {span.ms:.0f} ms for {span.mode} on {span.relation} "
            f"while every write{' and read' if span.mode in BLOCKS_READS else ''} queued "
            f"behind it; with SET lock_timeout = '{limit:.0f}ms' that queue would have "
            f"lasted {capped:.0f} ms"
            + (" and the migration would have failed fast, to be retried" if span.ms > limit
               else ""),
            table=span.relation, step=short(span.statement),
        ))  # fmt: skip
    held: dict[str, LockSpan] = {}
    for span in facts.trace.locks:
        if not span.granted or span.mode not in BLOCKS_WRITES or span.kind != "table":
            continue
        if span.relation in facts.trace.created:
            continue
        now = held.get(span.relation)
        if now is None or (strength(span.mode), span.ms) > (strength(now.mode), now.ms):
            held[span.relation] = span  # the strongest lock per table, then the longest
    for table, span in sorted(held.items()):
        advice.append(Finding(
            "advice", "lock_timeout",
            f"no lock_timeout: behind a reader running R ms, {span.mode} on {table} would "
            f"queue every write{' and read' if span.mode in BLOCKS_READS else ''} for "
            f"R + {span.ms:.0f} ms; with SET lock_timeout = '{limit:.0f}ms' at most "
            f"{limit:.0f} + {span.ms:.0f} ms", table=table,
        ))  # fmt: skip
    return advice


def judge(facts: RehearsalFacts, budgets: Budgets, today: date | None = None) -> Verdict:
    """The findings and the verdict of one rehearsal (waivers judged as of ``today``)."""
    findings = _steps(facts) + _compat(facts)
    upgraded = any(s.name == "upgrade" and s.ok for s in facts.steps)
    rolled_back = any(s.name == "downgrade" and s.ok for s in facts.steps)
    if rolled_back:
        for change in facts.schema_changes:
            findings.append(Finding(
                "fail", "schema", f"the schema does not come back: {change.describe()}",
                table=change.name,
            ))  # fmt: skip
        for loss in facts.data_losses:
            allowed = loss.name in budgets.allow_data_loss or loss.table in budgets.allow_data_loss
            what = f"data lost in {loss.name}" if loss.column else f"rows changed in {loss.table}"
            findings.append(Finding(
                "warn" if allowed else "fail", "data",
                f"the round trip loses data: {what} ({loss.detail})"
                + (" (allowed)" if allowed else ""), table=loss.name,
            ))  # fmt: skip
    stalls, stall_findings = _stalls(facts, budgets) if upgraded else ([], [])
    findings += stall_findings
    pad = facts.trace.worst_gap_ms
    total = total_window([blame(s, facts.trace.locks, pad) for s in facts.stalls])
    biggest = max((s.factor for s in stalls if s.measured_ms > 0), default=1.0)
    total_scaled = round(total * biggest, 1)
    if budgets.max_stall_ms is not None and total_scaled > budgets.max_stall_ms:
        findings.append(Finding(
            "fail", "stall",
            f"the downtime window is {total_scaled:.0f} ms"
            + (f" (measured {total:.0f} ms, scaled x{biggest})" if biggest != 1.0 else "")
            + f", over the {budgets.max_stall_ms:.0f} ms budget",
        ))  # fmt: skip
    if upgraded:
        findings += _blocking(facts, budgets)
        findings += _locks(facts, budgets)
        findings += lock_timeout_advice(facts, budgets)
    findings, waived = waive(findings, budgets.waivers, today or date.today())
    failures = [f for f in findings if f.severity == "fail"]
    route = f"{facts.production_revision} -> {facts.head_revision}"
    if failures:
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        summary = f"{route}: {failures[0].message}{more}"
    else:
        worst = max(stalls, key=lambda s: s.scaled_ms, default=None)
        where = ""
        if worst is not None and worst.scaled_ms:
            where = f", worst {worst.table} {worst.scaled_ms:.0f} ms"
        summary = f"{route}: downtime window {total_scaled:.0f} ms{where}; " + _rollback(facts)
        if facts.production_revision == facts.head_revision:
            summary = f"nothing to migrate: production runs {facts.head_revision} already"
    return Verdict(not failures, findings, stalls, total, total_scaled, summary, waived)


def _rollback(facts: RehearsalFacts) -> str:
    """What the summary says of the rollback the rehearsal proved."""
    if facts.first_release and not facts.rollback_revision:
        return "upgrade from an empty database ok; no earlier release to roll back to"
    if facts.rollback_revision and facts.rollback_revision != facts.production_revision:
        return f"rollback to the floor {facts.rollback_revision} ok; re-apply ok"
    return "rollback restores the schema and data; re-apply ok"
