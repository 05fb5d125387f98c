"""The tracer: a second connection that watches the migrating session.

Every ``interval`` (10 ms by default, 20 ms or better in practice) it samples
``pg_locks`` and ``pg_stat_activity`` for the sessions whose ``application_name`` is the
rehearsal's, and turns consecutive sightings into ``LockSpan``s (held or waited, with the
statement that was running when the span began). Around the migration it snapshots
``pg_class`` (file nodes: a changed one is a rewrite; names: tables created and dropped)
and ``pg_stat_user_tables`` (sequential scans that read a whole table). Catalog changes
of an uncommitted transaction are invisible to other sessions, so rewrites and
created/dropped tables are read after the migration ends, then attributed to the
statement that held the table's ``AccessExclusiveLock``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from stageline.rehearsal.facts import LockSpan, Statement, Trace
from stageline.rehearsal.statement_log import MARK, quiet

APPLICATION = "stageline-migration"

_KINDS = {"r": "table", "p": "table", "i": "index", "I": "index", "S": "sequence", "v": "view"}

#: a lock sighting: (relation oid, mode, granted, first seen ms, last seen ms, statement)
RawSpan = tuple[int, str, bool, float, float, str]

#: statements that say nothing about which step took a lock
_BOOKENDS = frozenset({"", "BEGIN", "COMMIT", "ROLLBACK", "END"})

# relations from 16384 (FirstNormalObjectId) on: the database's own, not the catalogs'
_SAMPLE = """
SELECT a.pid, a.query, a.state, l.relation::bigint, l.mode, l.granted
FROM pg_stat_activity a
LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.relation >= 16384
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
WHERE a.application_name = %s AND a.datname = current_database()
"""

_CLASSES = """
SELECT c.oid::bigint, CASE WHEN n.nspname = 'public' THEN c.relname
                           ELSE n.nspname || '.' || c.relname END,
       c.relkind::text, c.relfilenode::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
"""

_SCANS = """
SELECT CASE WHEN schemaname = 'public' THEN relname ELSE schemaname || '.' || relname END,
       seq_scan, seq_tup_read, n_live_tup
FROM pg_stat_user_tables
"""


@dataclass(frozen=True)
class CatalogSnapshot:
    #: oid -> (name, kind letter, file node)
    classes: dict[int, tuple[str, str, int]]
    #: table -> (seq_scan, seq_tup_read, live rows)
    scans: dict[str, tuple[int, int, int]]


def catalog_snapshot(conn: psycopg.Connection[Any]) -> CatalogSnapshot:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    classes = {
        int(oid): (str(name), str(kind), int(node))
        for oid, name, kind, node in conn.execute(_CLASSES).fetchall()
    }
    scans = {
        str(name): (int(scan or 0), int(read or 0), int(live or 0))
        for name, scan, read, live in conn.execute(_SCANS).fetchall()
    }
    return CatalogSnapshot(classes, scans)


class Tracer:
    """Samples the migrating session on its own thread between ``start()`` and ``stop()``."""

    def __init__(
        self,
        url: str,
        *,
        interval: float = 0.01,
        application: str = APPLICATION,
        rows: dict[str, int] | None = None,
    ) -> None:
        self.url = url
        self.rows = rows or {}
        self.interval = interval
        self.application = application
        self._conn = psycopg.connect(url, autocommit=True, prepare_threshold=None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rehearsal-tracer", daemon=True)
        self._open: dict[tuple[int, int, str, bool], list[Any]] = {}
        self._spans: list[RawSpan] = []
        self._statements: list[Statement] = []
        self._current: dict[int, tuple[str, float, float]] = {}
        self._samples = 0
        self._worst_gap = 0.0
        self._lock_timeout_seen = False
        self.t0 = 0.0
        self.before: CatalogSnapshot | None = None
        self.error: str | None = None
        #: the tracer's own backend, and when its marker statement ended (ms since t0)
        self.pid = self._conn.info.backend_pid
        self.mark_ms = 0.0
        #: the migrating sessions seen
        self.pids: set[int] = set()

    def start(self, t0: float) -> None:
        """Snapshot the catalog, write the statement log's marker (see
        ``statement_log.parse``), then sample until ``stop``; times are relative to ``t0``."""
        self.t0 = t0
        self.before = catalog_snapshot(self._conn)
        self._conn.execute(f"SELECT '{MARK}'".encode())
        self.mark_ms = self._now()
        quiet(self._conn)
        self._thread.start()

    def _now(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def _loop(self) -> None:
        last = self._now()
        try:
            while not self._stop.is_set():
                self._sample()
                now = self._now()
                self._worst_gap = max(self._worst_gap, now - last)
                last = now
                self._stop.wait(self.interval)
        except psycopg.Error as exc:  # the gate reports it; the trace is then partial
            self.error = str(exc).strip()

    def _sample(self) -> None:
        # a sample is timed when it is sent: what it sees is no older than that (its two
        # views are read one after the other, so "when it returned" could pair the lock
        # of one statement with the text of the next and date it inside the next)
        now = self._now()
        rows = self._conn.execute(_SAMPLE, (self.application,)).fetchall()
        self._samples += 1
        seen: set[tuple[int, int, str, bool]] = set()
        for pid, query, state, relation, mode, granted in rows:
            text = " ".join(str(query or "").split())
            self.pids.add(int(pid))
            if state == "active":
                self._statement(int(pid), text, now)
            if "lock_timeout" in text.lower():
                self._lock_timeout_seen = True
            if relation is None:
                continue
            key = (int(pid), int(relation), str(mode), bool(granted))
            seen.add(key)
            if key in self._open:
                self._open[key][1] = now
            else:
                statement = self._current.get(int(pid), ("", 0.0, 0.0))[0]
                # first seen at COMMIT: the statement that took it was faster than a sample
                if statement.rstrip(";").strip().upper() in _BOOKENDS:
                    statement = ""
                self._open[key] = [now, now, statement]
        for key in [k for k in self._open if k not in seen]:
            start, end, statement = self._open.pop(key)
            self._spans.append((key[1], key[2], key[3], start, end, statement))

    def _statement(self, pid: int, text: str, now: float) -> None:
        current = self._current.get(pid)
        if current is not None and current[0] == text:
            self._current[pid] = (text, current[1], now)
            return
        if current is not None:
            self._statements.append(Statement(*current))
        self._current[pid] = (text, now, now)

    def stop(self) -> Trace:
        """Stop sampling, read the catalog again, and return what was seen."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for key, (start, end, statement) in self._open.items():
            self._spans.append((key[1], key[2], key[3], start, end, statement))
        self._open.clear()
        for current in self._current.values():
            self._statements.append(Statement(*current))
        try:
            after = _settled_snapshot(self._conn)
        finally:
            self._conn.close()
        assert self.before is not None
        return build_trace(
            self.before,
            after,
            self._spans,
            sorted(self._statements, key=lambda s: s.start),
            samples=self._samples,
            worst_gap=self._worst_gap,
            lock_timeout_seen=self._lock_timeout_seen,
            rows=self.rows,
        )


def _settled_snapshot(conn: psycopg.Connection[Any]) -> CatalogSnapshot:
    """The catalog after the migration; statistics are flushed when a backend exits, which
    may lag a little behind the tool's exit."""
    for _ in range(20):
        busy = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (APPLICATION,),
        ).fetchone()
        if busy is None or busy[0] == 0:
            break
        time.sleep(0.05)
    time.sleep(0.05)
    return catalog_snapshot(conn)


def build_trace(
    before: CatalogSnapshot,
    after: CatalogSnapshot,
    spans: list[RawSpan],
    statements: list[Statement],
    *,
    samples: int,
    worst_gap: float,
    lock_timeout_seen: bool,
    rows: dict[str, int] | None = None,
) -> Trace:
    """Turn raw sightings and the two catalog snapshots into a ``Trace`` (pure).

    ``rows`` are the tables' exact row counts at the baseline (the statistics' live-row
    estimate is a fallback): a table was read in full when its sequential scans read at
    least that many rows."""
    names = {oid: (name, kind) for oid, (name, kind, _) in after.classes.items()}
    names.update({oid: (name, kind) for oid, (name, kind, _) in before.classes.items()})
    rewritten = [
        name for oid, (name, kind, node) in before.classes.items()
        if kind in ("r", "p", "m") and oid in after.classes
        and after.classes[oid][2] != node and node != 0
    ]  # fmt: skip
    locks: list[LockSpan] = []
    for oid, mode, granted, start, end, statement in merge_workers(spans):
        name, letter = names.get(oid, (f"oid {oid}", "new"))
        created = oid not in before.classes
        kind = "new" if created else _KINDS.get(letter, "other")
        locks.append(LockSpan(name, kind, mode, granted, start, end, statement))
    dropped = [
        n for o, (n, k, _) in before.classes.items() if k in ("r", "p") and o not in after.classes
    ]
    locks = [_temporary(span, locks, rewritten, dropped) for span in locks]
    locks.sort(key=lambda s: (s.start, s.relation, s.mode))
    tables_before = {oid: n for oid, (n, k, _) in before.classes.items() if k in ("r", "p")}
    tables_after = {oid: n for oid, (n, k, _) in after.classes.items() if k in ("r", "p")}
    rewrites = {name: _statement_for(name, locks) for name in rewritten}
    full_scans: dict[str, int] = {}
    for table, (scans, read, _) in after.scans.items():
        old = before.scans.get(table)
        if old is None or table not in tables_before.values():
            continue
        if rows is not None and table not in rows:  # e.g. the tool's own bookkeeping
            continue
        count = (rows or {}).get(table, old[2])
        more_scans, more_read = scans - old[0], read - old[1]
        if more_scans > 0 and count > 0 and more_read >= count:
            full_scans[table] = min(more_scans, more_read // count)
    return Trace(
        locks=locks,
        statements=statements,
        rewrites=rewrites,
        full_scans=full_scans,
        created=sorted(n for oid, n in tables_after.items() if oid not in tables_before),
        dropped=sorted(n for oid, n in tables_before.items() if oid not in tables_after),
        renamed={
            n: tables_after[oid]
            for oid, n in sorted(tables_before.items())
            if oid in tables_after and tables_after[oid] != n
        },
        samples=samples,
        worst_gap_ms=round(worst_gap, 1),
        lock_timeout_seen=lock_timeout_seen,
    )


def merge_workers(spans: list[RawSpan]) -> list[RawSpan]:
    """One span per relation, mode and state for overlapping sightings: the parallel
    workers of an index build hold the leader's locks under their own pids. Pure."""
    merged: list[list[Any]] = []
    for oid, mode, granted, start, end, statement in sorted(spans, key=lambda s: s[3]):
        same = next(
            (m for m in merged if (m[0], m[1], m[2]) == (oid, mode, granted) and start <= m[4]),
            None,
        )
        if same is None:
            merged.append([oid, mode, granted, start, end, statement])
        else:
            same[4] = max(same[4], end)
            same[5] = same[5] or statement
    return [(int(a), str(b), bool(c), float(d), float(e), str(f)) for a, b, c, d, e, f in merged]


def _temporary(
    span: LockSpan, locks: list[LockSpan], rewritten: list[str], dropped: list[str]
) -> LockSpan:
    """A relation gone by the end (``oid N``) locked while a table was rewritten or
    dropped is that rewrite's new copy, or the dropped table's TOAST or index: named
    after the table."""
    gone = rewritten + dropped
    if not span.relation.startswith("oid ") or not gone:
        return span
    during = [
        s.relation for s in locks
        if s.relation in gone and s.mode == "AccessExclusiveLock"
        and s.start <= span.end and span.start <= s.end
    ]  # fmt: skip
    table = during[0] if during else gone[0] if len(gone) == 1 else ""
    if not table:
        return span
    what = "rewrite's new copy" if table in rewritten else "TOAST or index"
    return dataclasses.replace(span, relation=f"{table} ({what})", kind="temp")


def _statement_for(table: str, locks: list[LockSpan]) -> str:
    for span in locks:
        if span.relation == table and span.mode == "AccessExclusiveLock" and span.statement:
            return span.statement
    return next((s.statement for s in locks if s.relation == table and s.statement), "")
