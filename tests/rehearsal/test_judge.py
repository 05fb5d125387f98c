"""The judge, on hand-made facts: every rule, both sides of every threshold."""

from __future__ import annotations

import dataclasses

import pytest

from stageline.rehearsal.facts import (
    Budgets,
    LockSpan,
    ProbeStall,
    RehearsalFacts,
    StepOutcome,
    Trace,
)
from stageline.rehearsal.fingerprint import DataLoss, SchemaChange
from stageline.rehearsal.judge import (
    attribute,
    blame,
    error_line,
    judge,
    lock_timeout_advice,
    scale_factor,
)

OK_STEPS = [
    StepOutcome("upgrade", True, 0.1, reached="0002"),
    StepOutcome("downgrade", True, 0.1, reached="0001"),
    StepOutcome("upgrade again", True, 0.1, reached="0002"),
]


def facts(**changes: object) -> RehearsalFacts:
    base = RehearsalFacts(
        tool="alembic", source="db", clone_method="dump", production_revision="0001",
        head_revision="0002", steps=list(OK_STEPS), trace=Trace(), stalls=[],
        schema_changes=[], data_losses=[], clone_sizes={"orders": 1000, "users": 50},
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def stall(table: str, ms: float, start: float = 0.0) -> ProbeStall:
    windows = [(start, start + ms)] if ms else []
    return ProbeStall(table, ms, ms, ms, windows, 10, slow_reads=windows, slow_writes=windows)


def held(*tables: str) -> Trace:
    """The migration held AccessExclusiveLock on ``tables`` all along."""
    return Trace(locks=[span(t, "AccessExclusiveLock", 0, 10_000) for t in tables])


def span(table: str, mode: str, start: float, end: float, **more: object) -> LockSpan:
    return LockSpan(table, str(more.get("kind", "table")), mode, bool(more.get("granted", True)),
                    start, end, str(more.get("statement", "ALTER TABLE " + table)))  # fmt: skip


def checks(verdict: object) -> set[str]:
    return {f"{f.check}:{f.table}" for f in verdict.failures}  # type: ignore[attr-defined]


def test_clean_round_trip_passes() -> None:
    verdict = judge(facts(stalls=[stall("orders", 0)]), Budgets(max_stall_ms=10))
    assert verdict.passed and verdict.failures == []
    assert verdict.summary.startswith("0001 -> 0002: downtime window 0 ms")


def test_failed_upgrade_names_step_and_state() -> None:
    steps = [StepOutcome("upgrade", False, 0.1, "boom\nERROR: column x does not exist",
                         step="0001 -> 0002", reached="0001")]  # fmt: skip
    verdict = judge(facts(steps=steps), Budgets())
    assert not verdict.passed
    assert verdict.failures[0].message == (
        "the upgrade failed at 0001 -> 0002: ERROR: column x does not exist (database left at 0001)"
    )


@pytest.mark.parametrize("name", ["downgrade", "prepare"])
def test_failed_downgrade_is_no_rollback_path(name: str) -> None:
    steps = [StepOutcome("upgrade", True, 0.1), StepOutcome(
        name, False, 0.1, "NotImplementedError: irreversible", command="0002",
        step="0002 -> 0001", reached="0002")]  # fmt: skip
    verdict = judge(facts(steps=steps), Budgets())
    message = verdict.failures[0].message
    assert message.startswith("no rollback path from 0002 to 0001")
    assert "0002 -> 0001" in message and "irreversible" in message
    assert verdict.failures[0].check == "downgrade"


def test_failed_reapply_fails() -> None:
    steps = [*OK_STEPS[:2], StepOutcome("upgrade again", False, 0.1, "ERROR: exists")]
    assert checks(judge(facts(steps=steps), Budgets())) == {"reapply:"}


def test_schema_that_does_not_come_back_fails_per_object() -> None:
    changes = [SchemaChange("table", "public.coupons", "added", None, "r")]
    verdict = judge(facts(schema_changes=changes), Budgets())
    assert checks(verdict) == {"schema:public.coupons"}
    assert "public.coupons is there but was not" in verdict.failures[0].message


def test_schema_is_not_judged_without_a_downgrade() -> None:
    changes = [SchemaChange("table", "t", "added", None, "r")]
    steps = [StepOutcome("upgrade", True, 0.1), StepOutcome("downgrade", False, 0.1, "x")]
    assert checks(judge(facts(steps=steps, schema_changes=changes), Budgets())) == {"downgrade:"}


@pytest.mark.parametrize(
    ("allowed", "passed"),
    [((), False), (("users.nickname",), True), (("users",), True), (("users.other",), False)],
)
def test_data_loss_unless_allowed(allowed: tuple[str, ...], passed: bool) -> None:
    loss = [DataLoss("users", "nickname", "values differ")]
    verdict = judge(facts(data_losses=loss), Budgets(allow_data_loss=frozenset(allowed)))
    assert verdict.passed is passed
    assert any("data lost in users.nickname" in f.message for f in verdict.findings)


@pytest.mark.parametrize(("limit", "passed"), [(None, True), (500, True), (499, False)])
def test_per_table_budget(limit: float | None, passed: bool) -> None:
    verdict = judge(
        facts(trace=held("orders"), stalls=[stall("orders", 500)]),
        Budgets(max_stall_ms_per_table=limit),
    )
    assert verdict.passed is passed


def test_total_budget_is_the_union_of_windows() -> None:
    overlapping = [stall("orders", 300, 0), stall("users", 300, 100)]  # union: 0-400
    trace = held("orders", "users")
    assert judge(facts(trace=trace, stalls=overlapping), Budgets(max_stall_ms=400)).passed
    verdict = judge(facts(trace=trace, stalls=overlapping), Budgets(max_stall_ms=399))
    assert checks(verdict) == {"stall:"}
    assert verdict.total_ms == 400


def test_stall_scaled_to_production_size() -> None:
    scaled = facts(
        trace=held("orders"), stalls=[stall("orders", 100)], production_sizes={"orders": 10_000}
    )
    verdict = judge(scaled, Budgets(max_stall_ms_per_table=500))
    assert verdict.stalls[0].scaled_ms == 1000 and verdict.stalls[0].factor == 10
    assert "scaled x10.0" in verdict.failures[0].message
    assert verdict.total_scaled_ms == 1000


@pytest.mark.parametrize(
    ("clone", "production", "factor"),
    [(100, 1000, 10.0), (100, 105, 1.0), (0, 100, 1.0), (100, 0, 1.0), (1000, 100, 0.1)],
)
def test_scale_factor(clone: int, production: int, factor: float) -> None:
    assert scale_factor("t", {"t": clone}, {"t": production}) == factor


@pytest.mark.parametrize(
    ("size", "allowed", "severity"),
    [(2000, False, "fail"), (2000, True, "warn"), (10, False, "warn")],
)
def test_rewrite_of_a_big_table(size: int, allowed: bool, severity: str) -> None:
    trace = Trace(rewrites={"orders": "ALTER TABLE orders ALTER amount TYPE bigint"})
    budgets = Budgets(size_threshold=1000, allow_rewrite=frozenset({"orders"} if allowed else ()))
    verdict = judge(facts(trace=trace, clone_sizes={"orders": size}), budgets)
    found = [f for f in verdict.findings if f.check == "rewrite"]
    assert [f.severity for f in found] == [severity]
    assert "orders was rewritten by ALTER TABLE orders ALTER amount TYPE bigint" in found[0].message


def test_production_size_decides_the_threshold() -> None:
    trace = Trace(rewrites={"orders": ""})
    small_copy = facts(trace=trace, clone_sizes={"orders": 10}, production_sizes={"orders": 5000})
    assert checks(judge(small_copy, Budgets(size_threshold=1000))) == {"rewrite:orders"}


@pytest.mark.parametrize(
    ("heavy", "allowed", "size", "severity"),
    [
        (True, False, 2000, "fail"),
        (True, True, 2000, "warn"),
        (True, False, 10, "warn"),
        (False, False, 2000, "warn"),  # metadata only: brief
    ],
)
def test_access_exclusive(heavy: bool, allowed: bool, size: int, severity: str) -> None:
    trace = Trace(
        locks=[span("orders", "AccessExclusiveLock", 0, 50)],
        full_scans={"orders": 1} if heavy else {},
    )
    budgets = Budgets(
        size_threshold=1000,
        allow_access_exclusive=frozenset({"orders"} if allowed else ()),
    )
    verdict = judge(facts(trace=trace, clone_sizes={"orders": size}), budgets)
    found = [f for f in verdict.findings if f.check == "lock"]
    assert [f.severity for f in found] == [severity]


def test_locks_on_tables_the_migration_created_do_not_count() -> None:
    trace = Trace(
        locks=[span("coupons", "AccessExclusiveLock", 0, 50, kind="new")],
        created=["coupons"], full_scans={},
    )  # fmt: skip
    verdict = judge(facts(trace=trace, clone_sizes={"coupons": 10**9}), Budgets())
    assert [f for f in verdict.findings if f.check == "lock"] == []


def test_full_scan_is_reported_with_the_lock_held() -> None:
    trace = Trace(locks=[span("users", "ShareRowExclusiveLock", 0, 10)], full_scans={"users": 2})
    found = [f for f in judge(facts(trace=trace), Budgets()).findings if f.check == "scan"]
    assert found[0].severity == "warn"
    assert found[0].message.startswith("users was read in full under ShareRowExclusiveLock (2 full")


def test_drop_and_rename_warn() -> None:
    trace = Trace(dropped=["audit"], renamed={"users": "customers"})
    verdict = judge(facts(trace=trace), Budgets())
    assert verdict.passed
    assert {f.check for f in verdict.findings} == {"drop", "rename"}


def test_attribution_needs_an_overlapping_blocking_lock() -> None:
    stalled = stall("orders", 100, 200)
    locks = [
        span("orders", "ShareLock", 150, 350, statement="CREATE INDEX ix ON orders (a)"),
        span("orders", "AccessShareLock", 150, 350, statement="SELECT 1"),
        span("orders", "AccessExclusiveLock", 400, 450, statement="ALTER TABLE orders"),
        span("users", "AccessExclusiveLock", 150, 350, statement="ALTER TABLE users"),
    ]
    assert attribute(stalled, locks) == ["CREATE INDEX ix ON orders (a)"]


def test_lock_timeout_advice_for_a_wait() -> None:
    trace = Trace(locks=[
        span("orders", "AccessExclusiveLock", 0, 900, granted=False),
        span("orders", "AccessExclusiveLock", 900, 910),
    ])  # fmt: skip
    advice = lock_timeout_advice(facts(trace=trace), Budgets(lock_timeout_ms=100))
    assert "waited 900 ms for AccessExclusiveLock on orders" in advice[0].message
    assert "every write and read queued" in advice[0].message
    assert "would have lasted 100 ms and the migration would have failed fast" in advice[0].message
    assert "R + 10 ms" in advice[1].message


def test_no_lock_timeout_advice_when_the_migration_sets_one() -> None:
    trace = Trace(
        locks=[span("orders", "AccessExclusiveLock", 0, 900, granted=False)],
        lock_timeout_seen=True,
    )
    assert lock_timeout_advice(facts(trace=trace), Budgets()) == []


def test_short_wait_is_not_capped() -> None:
    trace = Trace(locks=[span("orders", "ShareLock", 0, 50, granted=False)])
    advice = lock_timeout_advice(facts(trace=trace), Budgets(lock_timeout_ms=100))
    assert "would have lasted 50 ms" in advice[0].message
    assert "failed fast" not in advice[0].message
    assert "every write queued" in advice[0].message


def test_error_line_prefers_the_error() -> None:
    out = "INFO running\nTraceback\n  File x\nNotImplementedError: nope\nmore context"
    assert error_line(out) == "NotImplementedError: nope"
    assert error_line("") == "no output"
    assert error_line("just a line") == "just a line"


def test_slowness_without_a_lock_is_load_not_stall() -> None:
    slow = stall("orders", 300, 1000)
    verdict = judge(facts(stalls=[slow]), Budgets(max_stall_ms=100))
    assert verdict.passed and verdict.total_ms == 0
    assert verdict.stalls[0].measured_ms == 0 and verdict.stalls[0].unexplained_ms == 300


def test_blame_reads_only_on_access_exclusive_and_pads_by_the_gap() -> None:
    slow = ProbeStall("orders", 0, 0, 0, [], 4, slow_reads=[(100, 200)], slow_writes=[(100, 200)])
    share = [span("orders", "ShareLock", 210, 220)]
    assert blame(slow, share, pad=0).total_ms == 0
    padded = blame(slow, share, pad=15)
    assert (padded.read_ms, padded.write_ms) == (0, 100)
    exclusive = blame(slow, [span("orders", "AccessExclusiveLock", 150, 160)], pad=0)
    assert (exclusive.read_ms, exclusive.write_ms, exclusive.operations) == (100, 100, 4)
    other_table = blame(slow, [span("users", "AccessExclusiveLock", 0, 999)], pad=0)
    assert other_table.total_ms == 0


def test_nothing_to_migrate_says_so() -> None:
    same = facts(head_revision="0001")
    assert judge(same, Budgets()).summary == "nothing to migrate: production runs 0001 already"
