"""Stall arithmetic (pure) and the tracer's catalog comparison (pure)."""

from __future__ import annotations

from stageline.rehearsal.probes import stall_for, stall_windows, total_window
from stageline.rehearsal.tracer import CatalogSnapshot, build_trace


def test_only_slow_probes_count_and_overlaps_merge() -> None:
    samples = [(0.0, 1.0, True), (10.0, 60.0, True), (50.0, 120.0, True), (200.0, 205.0, True)]
    assert stall_windows(samples, threshold=15) == [(10.0, 120.0)]
    assert stall_windows(samples, threshold=100) == []


def test_stall_for_separates_reads_and_writes() -> None:
    reads = [(0.0, 2.0, True), (100.0, 300.0, True)]
    writes = [(50.0, 300.0, True)]
    stall = stall_for("orders", reads, writes, threshold=15)
    assert (stall.read_ms, stall.write_ms, stall.total_ms) == (200.0, 250.0, 250.0)
    assert stall.windows == [(50.0, 300.0)] and stall.operations == 3


def test_total_window_is_a_union() -> None:
    a = stall_for("a", [(0.0, 100.0, True)], [], 15)
    b = stall_for("b", [], [(50.0, 150.0, True), (400.0, 450.0, True)], 15)
    assert total_window([a, b]) == 200.0
    assert total_window([]) == 0.0


def test_build_trace_reads_rewrites_scans_and_renames() -> None:
    before = CatalogSnapshot(
        classes={1: ("orders", "r", 100), 2: ("users", "r", 200), 3: ("audit", "r", 300),
                 4: ("old_name", "r", 400), 5: ("ix", "i", 500)},
        scans={"orders": (1, 0, 10), "users": (1, 0, 10), "audit": (0, 0, 5),
               "old_name": (0, 0, 0)},
    )  # fmt: skip
    after = CatalogSnapshot(
        classes={1: ("orders", "r", 101), 2: ("users", "r", 200), 4: ("new_name", "r", 400),
                 5: ("ix", "i", 500), 6: ("coupons", "r", 600)},
        scans={"orders": (2, 1000, 10), "users": (3, 5, 10), "new_name": (0, 0, 0),
               "coupons": (5, 100, 0)},
    )  # fmt: skip
    spans = [
        (1, "AccessExclusiveLock", True, 5.0, 40.0, "ALTER TABLE orders ALTER a TYPE bigint"),
        (6, "AccessExclusiveLock", True, 1.0, 2.0, "CREATE TABLE coupons"),
        (99, "ShareLock", False, 3.0, 4.0, ""),
    ]
    trace = build_trace(
        before, after, spans, [], samples=7, worst_gap=12.345, lock_timeout_seen=False,
        rows={"orders": 1000, "users": 10},
    )  # fmt: skip
    assert trace.rewrites == {"orders": "ALTER TABLE orders ALTER a TYPE bigint"}
    assert trace.full_scans == {"orders": 1}  # users: 2 scans but only 5 of 10 rows read
    assert trace.created == ["coupons"] and trace.dropped == ["audit"]
    assert trace.renamed == {"old_name": "new_name"}
    kinds = {s.relation: s.kind for s in trace.locks}
    assert kinds == {"orders": "table", "coupons": "new", "oid 99": "new"}
    assert trace.worst_gap_ms == 12.3
