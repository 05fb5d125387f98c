"""The round trip's data comparison, reading only what it must, in parallel.

A migration can only change the data of a table it touched: one it locked beyond a plain
read, rewrote, created, dropped or renamed (``touched``), or wrote to (``written``: the
statistics' insert/update/delete counters moved, which also covers the downgrade), and
the tables tied to those by a foreign key (``neighbours``). So:

- **baseline** (before the upgrade): every table's exact row count, and for tables over
  ``sample_over`` bytes per-column checksums of a repeatable sample of their pages
  (``TABLESAMPLE SYSTEM ... REPEATABLE``);
- **after the round trip**: the same for untouched tables (a big table nobody touched
  keeps its pages, so its sample is the same pages); full per-column checksums of every
  touched table, compared with full checksums of the same tables in the **source** (the
  snapshot the copy was cloned from, unchanged), read at the same time on other
  connections.

When the source is not the copy's starting point (the copy was brought to production's
revision first, or made with ``pg_dump``, or ``mode = "full"``), the baseline reads every
table in full (as before). Tables are spread over ``workers`` connections, biggest first.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import psycopg

from stageline.rehearsal.facts import Trace
from stageline.rehearsal.fingerprint import TABLES, TableData, key, table_data

#: tables bigger than this (bytes, with indexes and TOAST) are sampled when untouched
SAMPLE_OVER = 64 * 1024**2
SAMPLE_PERCENT = 2.0

_WRITES = """
SELECT CASE WHEN schemaname = 'public' THEN relname ELSE schemaname || '.' || relname END,
       n_tup_ins + n_tup_upd + n_tup_del
FROM pg_stat_user_tables
"""
_NEIGHBOURS = """
SELECT CASE WHEN a.nspname = 'public' THEN c.relname ELSE a.nspname || '.' || c.relname END,
       CASE WHEN b.nspname = 'public' THEN f.relname ELSE b.nspname || '.' || f.relname END
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace a ON a.oid = c.relnamespace
JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace b ON b.oid = f.relnamespace
WHERE k.contype = 'f'
"""

Table = tuple[int, str, str, int]


def tables(url: str) -> list[Table]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [(int(o), str(s), str(n), int(z)) for o, s, n, z in conn.execute(TABLES)]


def fingerprints(
    url: str, listed: list[Table], *, full: set[str] | None = None,
    small: Literal["whole", "count"] = "whole", sample_over: int = SAMPLE_OVER, workers: int = 3,
    legacy: bool = False,
) -> dict[str, TableData]:  # fmt: skip
    """Row counts and checksums of ``listed`` at ``url``: whole for the tables in ``full``
    (``None``: all); of the others, those over ``sample_over`` bytes sampled, the smaller
    ones whole or (``small = "count"``) counted only."""
    if sum(t[3] for t in listed) < sample_over:  # small: another connection costs more
        workers = 1
    buckets: list[list[Table]] = [[] for _ in range(max(1, min(workers, len(listed))))]
    loads = [0] * len(buckets)
    for table in sorted(listed, key=lambda t: -t[3]):
        at = loads.index(min(loads))
        buckets[at].append(table)
        loads[at] += table[3] + 1

    def read(bucket: list[Table]) -> dict[str, TableData]:
        found: dict[str, TableData] = {}
        with psycopg.connect(url, autocommit=True) as conn:
            for oid, schema, name, size in bucket:
                name_ = key(schema, name)
                whole = full is None or name_ in full
                big = size > sample_over
                percent = None if whole or not big else SAMPLE_PERCENT
                count = not whole and not big and small == "count"
                found[name_] = table_data(
                    conn, oid, schema, name, size, percent, count_only=count, legacy=legacy
                )
        return found

    result: dict[str, TableData] = {}
    if len(buckets) == 1:
        return read(buckets[0])
    with ThreadPoolExecutor(len(buckets), thread_name_prefix="rehearsal-checksum") as pool:
        for part in pool.map(read, buckets):
            result.update(part)
    return result


def write_counts(url: str, settle: str = "") -> dict[str, int]:
    """Per table, rows inserted, updated and deleted so far (the statistics). With
    ``settle`` (an ``application_name``), first wait up to a second for those sessions to
    end: a session hands its statistics over when it exits, a moment after its client."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(20 if settle else 0):
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND datname = current_database()",
                (settle,),
            ).fetchone()
            if row is None or row[0] == 0:
                break
            time.sleep(0.05)
        if conn.info.server_version >= 150000:
            conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return {str(t): int(n or 0) for t, n in conn.execute(_WRITES)}


def touched(trace: Trace) -> set[str]:
    """Tables the traced upgrade locked beyond a plain read, rewrote, created, dropped,
    renamed or worked on. Pure."""
    found = {
        s.relation for s in trace.locks
        if s.kind in ("table", "new") and s.mode != "AccessShareLock"
    }  # fmt: skip
    found |= set(trace.rewrites) | set(trace.created) | set(trace.dropped)
    found |= set(trace.renamed) | set(trace.renamed.values())
    found |= {w.table for w in trace.work}
    return found


def written(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """Tables whose write counters moved between the two readings. Pure."""
    return {t for t, n in after.items() if n != before.get(t, n)}


def neighbours(url: str, names: set[str]) -> set[str]:
    """``names`` and every table a foreign key ties to one of them."""
    with psycopg.connect(url, autocommit=True) as conn:
        pairs: list[Any] = conn.execute(_NEIGHBOURS).fetchall()
    found = set(names)
    for child, parent in pairs:
        if child in names or parent in names:
            found |= {str(child), str(parent)}
    return found


def sizes(url: str | None) -> dict[str, int]:
    """Bytes of every user table at ``url`` with its indexes and TOAST (empty when
    unreachable): what a rewrite or a full scan has to go through."""
    if url is None:
        return {}
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            return {key(str(s), str(n)): int(z) for _, s, n, z in conn.execute(TABLES)}
    except psycopg.Error:
        return {}
