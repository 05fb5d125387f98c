"""Blocking work projected to production, the safe rewrites, and the advice: on hand-made
facts (pure)."""

from __future__ import annotations

import dataclasses

from stageline.gates.migrations import MigrationsOptions
from stageline.rehearsal.blocking import duration, project, safe_rewrite, size
from stageline.rehearsal.facts import (
    Budgets,
    LockSpan,
    RehearsalFacts,
    Statement,
    TableWork,
    Trace,
)
from stageline.rehearsal.judge import judge, lock_timeout_advice

from .test_judge import OK_STEPS

GB = 1024**3
MB = 1024**2
DEFAULTS = MigrationsOptions().budgets()


def facts(work: list[TableWork], *, clone: int, production: int, tool: str = "alembic",
          locks: list[LockSpan] | None = None) -> RehearsalFacts:  # fmt: skip
    trace = Trace(locks=locks or [], work=work, full_scans={w.table: 1 for w in work})
    return RehearsalFacts(
        tool=tool, source="db", clone_method="template", production_revision="0001",
        head_revision="0002", steps=list(OK_STEPS), trace=trace, stalls=[],
        schema_changes=[], data_losses=[], clone_sizes={"orders": clone},
        production_sizes={"orders": production},
    )  # fmt: skip


INDEX = TableWork("orders", "build", "CREATE INDEX ix ON orders (a)", 10, 150, "ShareLock")


def test_the_defaults_fail_a_blocking_index_build_on_a_big_production_table() -> None:
    verdict = judge(facts([INDEX], clone=400 * MB, production=38 * GB), DEFAULTS)
    [failure] = verdict.failures
    assert failure.check == "blocking" and failure.table == "orders"
    # timed on a copy big enough: 140 ms x (38 GB / 400 MB) = 13618 ms
    assert "writes to `orders` blocked (ShareLock while it was indexed)" in failure.message
    assert "~140 ms here, ~14 s at production's 38 GB" in failure.message
    assert "over the 1 s budget" in failure.message
    assert "postgresql_concurrently=True" in failure.message
    assert "autocommit_block" in failure.message
    advice = [f.message for f in verdict.findings if f.check == "statement_timeout"]
    assert advice and "statement_timeout = '1000ms'" in advice[0]


def test_a_small_production_table_passes_the_same_index_build() -> None:
    verdict = judge(facts([INDEX], clone=400 * MB, production=20 * MB), DEFAULTS)
    assert verdict.passed
    [warning] = [f for f in verdict.findings if f.check == "blocking"]
    assert warning.severity == "warn" and "within the 1 s budget" in warning.message


def test_a_copy_too_small_to_time_is_estimated_from_production_size() -> None:
    work = dataclasses.replace(INDEX, start=10, end=11)
    projection = project(work, facts([work], clone=64 * 1024, production=38 * GB), DEFAULTS)
    assert projection.estimated
    assert projection.projected_ms == round(38 * GB / (100 * MB / 1000), 1)


def test_online_work_is_not_judged_and_the_budget_can_be_off() -> None:
    online = dataclasses.replace(INDEX, mode="ShareUpdateExclusiveLock")
    verdict = judge(facts([online], clone=MB, production=38 * GB), DEFAULTS)
    assert verdict.passed and not [f for f in verdict.findings if f.check == "blocking"]
    off = dataclasses.replace(DEFAULTS, max_blocking_ms=None)
    assert judge(facts([INDEX], clone=MB, production=38 * GB), off).passed
    allowed = dataclasses.replace(DEFAULTS, allow_rewrite=frozenset({"orders"}))
    assert judge(facts([INDEX], clone=MB, production=38 * GB), allowed).passed


def test_the_safe_rewrite_is_written_for_the_services_tool() -> None:
    check = "ALTER TABLE orders ADD CONSTRAINT ck CHECK (a > 0)"
    assert "NOT VALID" in safe_rewrite(check, "scan", "sql")
    assert "AddConstraintNotValid" in safe_rewrite(check, "scan", "django")
    assert "AddIndexConcurrently" in safe_rewrite("CREATE INDEX ix ON t (a)", "build", "django")
    not_null = safe_rewrite("ALTER TABLE t ALTER COLUMN c SET NOT NULL", "scan", "alembic")
    assert "CHECK (col IS NOT NULL) NOT VALID" in not_null and "nullable=False" in not_null
    assert "backfill" in safe_rewrite("ALTER TABLE t ADD COLUMN c float DEFAULT random()",
                                      "rewrite", "sql")  # fmt: skip


def test_units_read_like_a_person_would_say_them() -> None:
    assert [duration(ms) for ms in (140, 12_000, 540_000, 4 * 3_600_000)] == [
        "140 ms", "12 s", "9 min", "4.0 h"
    ]  # fmt: skip
    assert size(38 * GB) == "38 GB" and size(512 * 1024) == "512 kB"


def test_the_size_threshold_counts_indexes_and_toast() -> None:
    """The knife edge: 48 KiB under 10 MB in the table file, over it with its indexes."""
    rewritten = Trace(rewrites={"orders": "TRUNCATE orders"})
    total = 10 * MB + 3 * MB  # what pg_total_relation_size reports
    base = facts([], clone=total, production=total)
    verdict = judge(dataclasses.replace(base, trace=rewritten), DEFAULTS)
    assert "rewrite" in {f.check for f in verdict.failures}


def test_lock_timeout_advice_keeps_the_strongest_then_longest_lock() -> None:
    locks = [
        LockSpan("orders", "table", "AccessExclusiveLock", True, 0, 172),
        LockSpan("orders", "table", "AccessExclusiveLock", True, 200, 988),
        LockSpan("orders", "table", "ShareLock", True, 1000, 1111),
    ]
    advice = lock_timeout_advice(facts([], clone=MB, production=MB, locks=locks),
                                 Budgets(lock_timeout_ms=100))  # fmt: skip
    [line] = [a.message for a in advice if a.table == "orders"]
    assert "AccessExclusiveLock on orders" in line and "R + 788 ms" in line
    assert "every write and read" in line


def test_the_gate_judges_blocking_work_by_default_and_can_be_told_otherwise() -> None:
    assert DEFAULTS.max_blocking_ms == 1000 and DEFAULTS.work_mb_per_s == 100
    options = MigrationsOptions.model_validate(
        {"max_blocking_ms": None, "work_mb_per_s": 400, "statement_log": False}
    )
    assert options.budgets().max_blocking_ms is None
    assert options.budgets().work_mb_per_s == 400 and options.statement_log is False


def test_no_statement_timeout_advice_when_the_migration_sets_one() -> None:
    base = facts([INDEX], clone=400 * MB, production=38 * GB)
    timed = Statement("SET statement_timeout = '5s'", 0, 1)
    trace = dataclasses.replace(base.trace, statements=[timed])
    verdict = judge(dataclasses.replace(base, trace=trace), DEFAULTS)
    assert not verdict.passed
    assert not [f for f in verdict.findings if f.check == "statement_timeout"]
