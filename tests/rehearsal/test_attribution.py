"""Statement-level attribution, on hand-made traces and logs: what each statement locks,
the statement log's lines, the join, the grouping of parallel workers and the names of
temporary relations."""

from __future__ import annotations

import pytest

from stageline.rehearsal.attribution import join, transaction_ends
from stageline.rehearsal.checksums import touched, written
from stageline.rehearsal.facts import LockSpan, Statement, Trace
from stageline.rehearsal.statement_log import MARK, parse
from stageline.rehearsal.statements import Effect, effects
from stageline.rehearsal.tracer import CatalogSnapshot, build_trace, merge_workers


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("CREATE INDEX ix ON orders (a);", [Effect("orders", "ShareLock", "build")]),
        (
            "create index concurrently if not exists ix on public.orders (a)",
            [Effect("orders", "ShareUpdateExclusiveLock", "build")],
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES customers (id)",
            [Effect("orders", "ShareRowExclusiveLock", "scan"),
             Effect("customers", "ShareRowExclusiveLock", "scan")],
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0) NOT VALID",
            [Effect("orders", "AccessExclusiveLock", "none")],
        ),
        (
            "ALTER TABLE orders VALIDATE CONSTRAINT ck",
            [Effect("orders", "ShareUpdateExclusiveLock", "scan")],
        ),
        (
            "ALTER TABLE orders ALTER COLUMN a TYPE bigint",
            [Effect("orders", "AccessExclusiveLock", "rewrite", certain=False)],
        ),
        (
            "-- a comment\nTRUNCATE TABLE audit_log, orders RESTART IDENTITY;",
            [Effect("audit_log", "AccessExclusiveLock", "rewrite"),
             Effect("orders", "AccessExclusiveLock", "rewrite")],
        ),
        ("DROP TABLE IF EXISTS audit_log", [Effect("audit_log", "AccessExclusiveLock")]),
        ("LOCK TABLE orders IN SHARE MODE", [Effect("orders", "ShareLock")]),
        ("SELECT 1", []),
    ],
)  # fmt: skip
def test_effects_of_a_statement(sql: str, expected: list[Effect]) -> None:
    assert effects(sql) == expected


_AT = "2026-12-05 05:50:0"
LOG = "\n".join([
    f"{_AT}1.000 UTC [100] LOG:  duration: 0.050 ms  execute <unnamed>: SELECT '{MARK}'",
    f"{_AT}1.010 UTC [200] LOG:  duration: 0.010 ms  statement: BEGIN",
    f"{_AT}1.012 UTC [300] LOG:  duration: 0.200 ms  execute <unnamed>: DELETE FROM t",
    f"{_AT}1.020 UTC [200] LOG:  duration: 1.500 ms  statement: DROP TABLE",
    "\taudit_log;",
    f"{_AT}1.500 UTC [200] LOG:  process 200 still waiting for AccessExclusiveLock on "
    "relation 16390 of database 5 after 1000.1 ms",
    f"{_AT}2.030 UTC [200] LOG:  duration: 0.100 ms  statement: COMMIT",
    f"{_AT}9.000 UTC [200] LOG:  duration: 0.100 ms  statement: SELECT 'after the end'",
])  # fmt: skip


def test_the_log_gives_the_migrations_statements_in_the_rehearsals_clock() -> None:
    logged = parse(LOG, ours={100, 300}, mark_ms=50.0, end_ms=2000.0)
    assert logged.readable
    assert [(s.text, s.start, s.end) for s in logged.statements] == [
        ("BEGIN", 60.0, 60.0),
        ("DROP TABLE audit_log", 68.5, 70.0),
        ("COMMIT", 1079.9, 1080.0),
    ]
    assert logged.waits == [("AccessExclusiveLock", 16390, 550.0)]


def test_a_log_without_the_marker_is_not_readable() -> None:
    assert not parse("2026-12-05 05:50:01.000 UTC [1] LOG:  hello\n", {1}, 0.0, 10.0).readable


def test_transactions_hold_locks_to_their_commit() -> None:
    statements = [
        Statement("BEGIN", 0, 0), Statement("ALTER TABLE orders ADD COLUMN f boolean", 1, 2),
        Statement("UPDATE orders SET f = false", 2, 900), Statement("COMMIT", 900, 901),
        Statement("CREATE INDEX CONCURRENTLY ix ON orders (f)", 902, 950),
    ]  # fmt: skip
    assert transaction_ends(statements) == [901, 901, 901, 901, 950]


def test_a_backfill_in_the_alters_transaction_runs_under_its_lock() -> None:
    logged = [
        Statement("BEGIN", 0, 0), Statement("ALTER TABLE orders ADD COLUMN f boolean", 1, 2),
        Statement("UPDATE orders SET f = false", 2, 900), Statement("COMMIT", 900, 901),
    ]  # fmt: skip
    trace = join(Trace(full_scans={"orders": 1}, worst_gap_ms=10), logged)
    assert [(w.table, w.kind, w.mode, w.statement) for w in trace.work] == [
        ("orders", "scan", "AccessExclusiveLock", "UPDATE orders SET f = false")
    ]
    # the ALTER's lock, shorter than any sample, is known from the log, held to the commit
    [span] = [s for s in trace.locks if s.mode == "AccessExclusiveLock"]
    assert (span.source, span.start, span.end) == ("log", 1, 901)


def test_a_validation_in_its_own_transaction_is_charged_its_own_lock() -> None:
    logged = [
        Statement("ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", 0, 1),
        Statement("ALTER TABLE orders VALIDATE CONSTRAINT ck", 1.2, 300),
    ]  # fmt: skip
    # a sample of the ALTER's lock, taken a moment after it, is not the validation's
    sampled = LockSpan("orders", "table", "AccessExclusiveLock", True, 2, 2,
                       "ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0) NOT VALID;")  # fmt: skip
    trace = join(Trace(locks=[sampled], full_scans={"orders": 1}, worst_gap_ms=10), logged)
    assert [(w.statement, w.mode) for w in trace.work] == [
        ("ALTER TABLE orders VALIDATE CONSTRAINT ck", "ShareUpdateExclusiveLock")
    ]


def test_sampled_spans_are_named_by_the_logged_statement() -> None:
    sampled = LockSpan("orders", "table", "ShareLock", True, 20, 400)
    logged = [Statement("BEGIN", 0, 0), Statement("CREATE INDEX ix ON orders (a)", 5, 390),
              Statement("COMMIT", 399, 400)]  # fmt: skip
    trace = join(Trace(locks=[sampled], full_scans={"orders": 1}, worst_gap_ms=10), logged)
    assert trace.locks[0].statement == "CREATE INDEX ix ON orders (a)"
    assert trace.logged and trace.work[0].ms == 385


def test_parallel_workers_are_one_span() -> None:
    spans = [
        (16384, "ShareLock", True, 10.0, 300.0, "CREATE INDEX ix ON orders (a)"),
        (16384, "ShareLock", True, 40.0, 250.0, ""),
        (16384, "ShareLock", True, 400.0, 420.0, ""),
    ]
    assert merge_workers(spans) == [
        (16384, "ShareLock", True, 10.0, 300.0, "CREATE INDEX ix ON orders (a)"),
        (16384, "ShareLock", True, 400.0, 420.0, ""),
    ]


def test_a_rewrites_temporary_relation_is_named_by_its_table() -> None:
    before = CatalogSnapshot({16384: ("orders", "r", 16384)}, {})
    after = CatalogSnapshot({16384: ("orders", "r", 16999)}, {})
    spans = [
        (16384, "AccessExclusiveLock", True, 10.0, 300.0, "ALTER TABLE orders ..."),
        (16420, "AccessExclusiveLock", True, 20.0, 290.0, "ALTER TABLE orders ..."),
    ]
    trace = build_trace(before, after, spans, [], samples=30, worst_gap=10,
                        lock_timeout_seen=False)  # fmt: skip
    assert {s.relation for s in trace.locks} == {"orders", "orders (rewrite's new copy)"}
    assert trace.rewrites == {"orders": "ALTER TABLE orders ..."}


def test_touched_tables_are_those_locked_beyond_a_read_changed_or_written() -> None:
    trace = Trace(
        locks=[
            LockSpan("customers", "table", "AccessShareLock", True, 0, 5),
            LockSpan("orders", "table", "ShareLock", True, 0, 5),
            LockSpan("orders_pkey", "index", "AccessExclusiveLock", True, 0, 5),
        ],
        rewrites={"items": "ALTER TABLE items ..."},
        renamed={"audit_log": "audit_events"},
    )
    assert touched(trace) == {"orders", "items", "audit_log", "audit_events"}
    assert written({"a": 1, "b": 5}, {"a": 1, "b": 7, "c": 0}) == {"b"}


def test_when_the_server_logs_other_databases_too_only_the_seen_sessions_count() -> None:
    logged = parse(LOG, ours={100}, mark_ms=50.0, end_ms=2000.0, theirs={200}, strangers=False)
    assert [s.text for s in logged.statements] == ["BEGIN", "DROP TABLE audit_log", "COMMIT"]
