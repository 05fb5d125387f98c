"""The corpus: real migrations against real PostgreSQL, each judged as it really behaves.

Every ``corpus/<case>/`` holds ``up.sql``, ``down.sql`` and ``truth.toml`` (what the
rehearsal must report: the verdict, the tables rewritten, read in full, locked
``AccessExclusiveLock``, stalled, created, dropped, and the failing checks by table).
"""

from __future__ import annotations

import tomllib
from typing import Any

import psycopg
import pytest

from stageline.rehearsal.facts import Budgets, RehearsalFacts
from stageline.rehearsal.judge import Verdict, judge
from stageline.rehearsal.run import Plan, rehearse
from stageline.rehearsal.tools import SqlFiles, local_runner
from stageline.services.postgres import PostgresServer, find_binaries

from .conftest import CORPUS

CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "truth.toml").is_file())

BUDGETS = Budgets(
    max_stall_ms=2000,
    max_stall_ms_per_table=250,
    size_threshold=100_000,
    lock_timeout_ms=500,
)


def rehearse_case(
    server: PostgresServer, source: str, case: str, *, long_reader_ms: float = 0
) -> tuple[RehearsalFacts, Verdict]:
    folder = CORPUS / case
    binaries = find_binaries("embedded", None)
    migrator = SqlFiles(
        run=local_runner(), cwd=folder, env={}, psql=binaries.program("psql"),
        upgrade_files=["up.sql"], downgrade_files=["down.sql"],
    )  # fmt: skip
    plan = Plan(
        admin_url=server.url("postgres"), source=source, method="template",
        migrator=migrator, budgets=BUDGETS, probe_interval=0.01, long_reader_ms=long_reader_ms,
    )  # fmt: skip
    facts = rehearse(plan)
    return facts, judge(facts, BUDGETS)


def _failing(verdict: Verdict) -> set[str]:
    return {f"{f.check}:{f.table}" if f.table else f.check for f in verdict.failures}


@pytest.mark.parametrize("case", CASES)
def test_case_reported_as_it_behaves(
    postgres_server: PostgresServer, seeded: str, case: str
) -> None:
    truth: dict[str, Any] = tomllib.loads((CORPUS / case / "truth.toml").read_text())
    facts, verdict = rehearse_case(postgres_server, seeded, case)
    trace = facts.trace
    assert [s.name for s in facts.steps] == ["upgrade", "downgrade", "upgrade again"]
    reapplied = not truth.get("reapply_fails", False)
    assert [s.ok for s in facts.steps] == [True, True, reapplied], [s.output for s in facts.steps]
    assert verdict.passed is truth["passed"], verdict.findings
    assert set(trace.rewrites) == set(truth.get("rewrites", []))
    assert set(truth.get("full_scans", [])) <= set(trace.full_scans), trace.full_scans
    if not truth.get("rewrites") and not truth.get("full_scans"):
        assert not trace.full_scans, trace.full_scans
    exclusive = {
        s.relation for s in trace.locks
        if s.mode == "AccessExclusiveLock" and s.kind == "table" and s.granted
    }  # fmt: skip
    # a lock held longer than the sampling interval is always seen; a metadata-only
    # statement may hold AccessExclusiveLock for less than that ("brief_locks")
    required = set(truth.get("access_exclusive", []))
    assert required <= exclusive <= required | set(truth.get("brief_locks", [])), trace.locks
    assert trace.created == truth.get("created", [])
    assert trace.dropped == truth.get("dropped", [])
    assert trace.renamed == truth.get("renamed", {})
    assert set(truth.get("fails", [])) <= _failing(verdict), verdict.failures
    stalls = {s.table: s for s in facts.stalls}
    for table in truth.get("write_stalled", []):
        assert stalls[table].write_ms >= 300, stalls[table]
    for table in truth.get("read_free", []):
        assert stalls[table].read_ms < stalls[table].write_ms / 2, stalls[table]
    if "caused_by" in truth:
        causes = {s.table: s.caused_by for s in verdict.stalls}
        assert any(truth["caused_by"] in c for t in truth["write_stalled"] for c in causes[t])
    assert trace.samples >= 1


def test_scratch_database_is_dropped(postgres_server: PostgresServer, seeded: str) -> None:
    rehearse_case(postgres_server, seeded, "add_column")
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'stageline_rehearsal_%'"
        ).fetchall()
    assert left == []


def test_source_is_untouched(postgres_server: PostgresServer, seeded: str) -> None:
    rehearse_case(postgres_server, seeded, "loses_data")
    with psycopg.connect(postgres_server.url(seeded), autocommit=True) as conn:
        row = conn.execute("SELECT count(nickname) FROM customers").fetchone()
    assert row == (3000,)


def test_loss_is_named_by_table_and_column(postgres_server: PostgresServer, seeded: str) -> None:
    facts, verdict = rehearse_case(postgres_server, seeded, "loses_data")
    assert [(loss.table, loss.column) for loss in facts.data_losses] == [("customers", "nickname")]
    assert any("customers.nickname" in f.message for f in verdict.failures)


def test_schema_not_back_names_the_leftover(postgres_server: PostgresServer, seeded: str) -> None:
    facts, verdict = rehearse_case(postgres_server, seeded, "forgets_drop")
    names = {(c.kind, c.name, c.change) for c in facts.schema_changes}
    assert ("table", "public.coupons", "added") in names
    assert ("column", "public.coupons.code", "added") in names
    assert not any("orders" in name for _, name, _ in names)
    assert any("does not come back" in f.message for f in verdict.failures)


def test_short_lock_behind_a_long_reader_stalls_everything(
    postgres_server: PostgresServer, seeded: str
) -> None:
    """A metadata-only ADD COLUMN queued behind a 600 ms reader: every read and write of
    the table waits behind it, and the advice shows what a lock_timeout would have done."""
    facts, verdict = rehearse_case(postgres_server, seeded, "add_column", long_reader_ms=600)
    waits = [s for s in facts.trace.locks if not s.granted and s.relation == "orders"]
    assert waits and waits[0].mode == "AccessExclusiveLock" and waits[0].ms >= 300, waits
    orders = next(s for s in facts.stalls if s.table == "orders")
    assert orders.read_ms >= 300 and orders.write_ms >= 300, orders
    customers = next(s for s in facts.stalls if s.table == "customers")
    assert customers.total_ms < orders.total_ms / 2, customers
    advice = [f.message for f in verdict.findings if f.severity == "advice"]
    assert any("waited" in m and "lock_timeout = '500ms'" in m and "orders" in m for m in advice), (
        advice
    )
    assert not verdict.passed  # 600 ms of stall on orders is over the 250 ms budget
