"""Join what was sampled with what was logged: every lock, rewrite and scan named by the
statement that caused it. Pure.

Inputs: the tracer's ``Trace`` (sampled lock spans, the statements seen in
``pg_stat_activity``, the measured rewrites and full scans) and, where the copy's
statement log was readable, the migration's statements with their exact times
(``statement_log``). ``join``:

1. names each sampled span that has no statement by the logged statement running when it
   began (or the last one before it: a lock taken by a fast statement is first seen
   during the next);
2. adds the locks the log proves but no sample saw (``source = "log"``): each logged
   statement's lock per table (``statements.effects``), held from the statement's start
   to the end of its transaction (``BEGIN`` ... ``COMMIT``, as logged); a ``DROP TABLE`` or
   ``RENAME`` of a millisecond is never missed;
3. charges each measured rewrite and full scan to the statement that can do it
   (``TableWork``): the statements whose effect on the table is that work, certain ones
   first, then the longest; with the strongest lock the migration held on the table
   during that statement (its own, those of earlier statements of its transaction, and
   the sampled spans overlapping it).

Without a log, the sampled statements stand in for the logged ones (short statements are
then missed, and the report says the statement log was not read).
"""

from __future__ import annotations

import dataclasses

from stageline.rehearsal.facts import LockSpan, Statement, TableWork, Trace
from stageline.rehearsal.statements import Effect, clean, effects

_ORDER = [
    "AccessShareLock", "RowShareLock", "RowExclusiveLock", "ShareUpdateExclusiveLock",
    "ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock",
]  # fmt: skip
_OPEN = ("BEGIN", "START TRANSACTION")
_CLOSE = ("COMMIT", "ROLLBACK", "END", "ABORT")


def strength(mode: str) -> int:
    """The rank of a lock mode (stronger conflicts with more); -1 when unknown."""
    return _ORDER.index(mode) if mode in _ORDER else -1


def transactions(statements: list[Statement]) -> list[int]:
    """The transaction of each statement, numbered: ``BEGIN`` ... ``COMMIT`` /
    ``ROLLBACK`` share one; a statement outside them is its own (autocommit). By the
    order of the statements, not their times (the log's are rounded to milliseconds)."""
    ids: list[int] = []
    current = 0
    inside = False
    for statement in statements:
        word = clean(statement.text).upper()
        if word.startswith(_OPEN):
            current, inside = current + 1, True
        elif not inside:
            current += 1
        ids.append(current)
        if word.startswith(_CLOSE):
            inside = False
    return ids


def transaction_ends(statements: list[Statement]) -> list[float]:
    """For each statement, when its transaction ended: the end of its last statement
    (the ``COMMIT``), or of the last statement seen when it never ended in the window."""
    ids = transactions(statements)
    last = {tx: statements[i].end for i, tx in enumerate(ids)}
    return [last[tx] for tx in ids]


def _running(statements: list[Statement], at: float, pad: float) -> str:
    """The statement running at ``at`` (within ``pad``), else the last one ended before."""
    before = ""
    for statement in statements:
        if statement.start - pad <= at <= statement.end + pad and _names_work(statement):
            return statement.text
        if statement.end <= at and _names_work(statement):
            before = statement.text
    return before


def _names_work(statement: Statement) -> bool:
    word = clean(statement.text).upper()
    return bool(word) and not word.startswith(_OPEN + _CLOSE + ("SET ", "SELECT PG_SLEEP"))


def _logged_spans(
    statements: list[Statement], created: set[str]
) -> list[tuple[Effect, LockSpan, int]]:
    """Every lock the logged statements take, held to the end of their transaction, with
    the index of the statement that took it."""
    ends = transaction_ends(statements)
    found = []
    for i, statement in enumerate(statements):
        for effect in effects(statement.text):
            kind = "new" if effect.table in created else "table"
            span = LockSpan(effect.table, kind, effect.mode, True, statement.start, ends[i],
                            statement.text, source="log")  # fmt: skip
            found.append((effect, span, i))
    return found


def _missing(span: LockSpan, sampled: list[LockSpan], pad: float) -> bool:
    return not any(
        s.relation == span.relation and s.mode == span.mode and s.granted
        and s.start - pad <= span.end and span.start <= s.end + pad
        for s in sampled
    )  # fmt: skip


def join(trace: Trace, logged: list[Statement] | None) -> Trace:
    """``trace`` with its locks named by statement, the logged locks no sample saw added,
    and its measured work charged to statements (see the module docstring)."""
    pad = max(trace.worst_gap_ms, 1.0)  # a sample's uncertainty, for naming spans
    statements = logged if logged is not None else trace.statements
    locks = [
        dataclasses.replace(s, statement=_running(statements, s.start, pad))
        if not s.statement else s
        for s in trace.locks
    ]  # fmt: skip
    spans = _logged_spans(statements, set(trace.created))
    if logged is not None:
        locks += [span for _, span, _ in spans if _missing(span, locks, pad)]
    locks.sort(key=lambda s: (s.start, s.relation, s.mode))
    work = _work(trace, statements, spans, locks, logged is not None)
    rewrites = dict(trace.rewrites)
    for item in work:
        if item.kind == "rewrite":
            rewrites[item.table] = item.statement
    seen_timeout = trace.lock_timeout_seen or any(
        "lock_timeout" in s.text.lower() for s in statements
    )
    return dataclasses.replace(
        trace, locks=locks, statements=statements if logged is not None else trace.statements,
        rewrites=rewrites, work=work, logged=logged is not None, lock_timeout_seen=seen_timeout,
    )  # fmt: skip


def _work(
    trace: Trace, statements: list[Statement], spans: list[tuple[Effect, LockSpan, int]],
    locks: list[LockSpan], logged: bool,
) -> list[TableWork]:  # fmt: skip
    measured = {t: "rewrite" for t in trace.rewrites}
    for table in trace.full_scans:
        measured.setdefault(table, "scan")
    work: list[TableWork] = []
    for table, kind in sorted(measured.items()):
        wanted = ("rewrite",) if kind == "rewrite" else ("scan", "build")
        candidates = [(e, s, i) for e, s, i in spans if e.table == table and e.work in wanted]
        if not candidates and kind == "rewrite":  # a rewrite may be logged as a scan-type
            candidates = [(e, s, i) for e, s, i in spans if e.table == table and e.work != "none"]
        if not candidates:
            work.append(_other_work(table, kind, trace, statements, spans, locks, logged))
            continue
        count = trace.full_scans.get(table, 1) if kind == "scan" else 1

        def rank(c: tuple[Effect, LockSpan, int]) -> tuple[bool, float]:
            return (not c[0].certain, statements[c[2]].start - statements[c[2]].end)

        ranked = sorted(candidates, key=rank)[: max(1, count)]
        for effect, span, index in sorted(ranked, key=lambda c: c[2]):
            start, end = statements[index].start, statements[index].end
            sampled = _sampled(locks, statements[index] if logged else None)
            mode = _strongest(table, start, end, effect.mode, statements, spans, index, sampled)
            done = "rewrite" if kind == "rewrite" else effect.work
            work.append(TableWork(table, done, span.statement, start, end, mode))
    return work


#: how late a sample's time may be after what it saw (the sampling query's own time, ms)
SAMPLE_LAG = 2.0


def _sampled(locks: list[LockSpan], statement: Statement | None) -> list[LockSpan]:
    """The sampled spans that may say which lock ``statement`` ran under: all of them
    without a log (``statement`` None); with one, only those seen while that very
    statement ran, by its text and by time (``pg_locks`` and ``pg_stat_activity`` are
    read one after the other, so at a statement's edge a sample may pair the lock of
    one statement with the text of the next; the log already says what the statements
    of its transaction took)."""
    sampled = [s for s in locks if s.source == "sampled"]
    if statement is None:
        return sampled
    return [
        s for s in sampled
        if clean(s.statement) == clean(statement.text)
        and statement.start <= s.start and s.end <= statement.end + SAMPLE_LAG
    ]  # fmt: skip


def _strongest(
    table: str, start: float, end: float, own: str, statements: list[Statement],
    spans: list[tuple[Effect, LockSpan, int]], index: int, locks: list[LockSpan],
) -> str:  # fmt: skip
    """The strongest lock on ``table`` held while statement ``index`` ran: its own
    (``own``), those earlier statements of its transaction took, and the sampled spans
    overlapping it (as sampled: the real span contains the sampled one)."""
    modes = [own] if own else []
    tx = transactions(statements)
    modes += [s.mode for e, s, i in spans if e.table == table and i < index and tx[i] == tx[index]]
    modes += [
        s.mode for s in locks
        if s.relation == table and s.granted and s.source == "sampled"
        and s.start <= end and start <= s.end
    ]  # fmt: skip
    return max(modes, key=strength, default="")


def _other_work(
    table: str, kind: str, trace: Trace, statements: list[Statement],
    spans: list[tuple[Effect, LockSpan, int]], locks: list[LockSpan], logged: bool,
) -> TableWork:  # fmt: skip
    """Work on ``table`` no statement names it for (a foreign key's validation reads the
    referenced table too): charged to the longest statement that does work at all, with
    the locks held on ``table`` meanwhile; without one, to the strongest sampled lock."""
    busy = [i for e, _, i in spans if e.work != "none"]
    if not busy:
        return _sampled_work(table, kind, trace, locks)
    index = max(busy, key=lambda i: statements[i].end - statements[i].start)
    start, end = statements[index].start, statements[index].end
    sampled = _sampled(locks, statements[index] if logged else None)
    mode = _strongest(table, start, end, "", statements, spans, index, sampled)
    return TableWork(table, kind, statements[index].text, start, end, mode)


def _sampled_work(table: str, kind: str, trace: Trace, locks: list[LockSpan]) -> TableWork:
    """Work no statement explains: charged to the strongest sampled lock on the table."""
    held = [s for s in locks if s.relation == table and s.granted and s.kind == "table"]
    if not held:
        return TableWork(table, kind, trace.rewrites.get(table, ""), 0.0, 0.0, "")
    top = max(held, key=lambda s: (strength(s.mode), s.ms))
    return TableWork(table, kind, top.statement, top.start, top.end, top.mode)
