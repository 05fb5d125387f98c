"""The report renders what the judge found: text for people, JSON, JUnit for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from stageline.rehearsal.facts import Budgets, LockSpan, ProbeStall, StepOutcome, Trace
from stageline.rehearsal.fingerprint import DataLoss
from stageline.rehearsal.judge import judge
from stageline.rehearsal.report import CHECKS, as_json, junit, text

from .test_judge import facts


def sample() -> tuple[object, object]:
    trace = Trace(
        locks=[LockSpan("orders", "table", "AccessExclusiveLock", False, 0, 700, "ALTER TABLE")],
        samples=40, worst_gap_ms=12,
    )  # fmt: skip
    f = facts(
        trace=trace,
        stalls=[
            ProbeStall(
                "orders",
                700,
                700,
                800,
                [(0, 700), (900, 1000)],
                20,
                slow_reads=[(0, 700)],
                slow_writes=[(0, 700), (900, 1000)],
            )
        ],
        data_losses=[DataLoss("users", "nickname", "values differ")],
        production_sizes={"orders": 2000},
        notes=["copied staging's own database"],
    )
    return f, judge(f, Budgets(max_stall_ms=1000, lock_timeout_ms=100))


def test_text_report() -> None:
    f, verdict = sample()
    report = text(f, verdict)  # type: ignore[arg-type]
    assert "migration rehearsal (alembic): 0001 -> 0002" in report
    assert "verdict: FAILED" in report
    assert "orders: 700 ms (x2.0 -> 1400 ms) (reads 700, writes 700), by ALTER TABLE" in report
    assert "orders               AccessExclusiveLock      WAITED" in report
    assert "FAIL   the round trip loses data: data lost in users.nickname" in report
    assert "advice the migration waited 700 ms" in report
    assert "scaled by production's table size" in report
    assert "copied staging's own database" in report
    assert "slow for 100 ms in all with no lock of the migration" in report


def test_json_report_round_trips() -> None:
    f, verdict = sample()
    data = json.loads(json.dumps(as_json(f, verdict)))  # type: ignore[arg-type]
    assert data["passed"] is False
    assert data["downtime_ms"] == 700 and data["downtime_scaled_ms"] == 1400
    assert data["facts"]["trace"]["locks"][0]["mode"] == "AccessExclusiveLock"
    assert {x["check"] for x in data["findings"]} >= {"data", "stall", "lock_timeout"}


def test_junit_one_case_per_check() -> None:
    f, verdict = sample()
    root = ET.fromstring(junit(f, verdict).split("\n", 1)[1])  # type: ignore[arg-type]
    cases = root.findall(".//testcase")
    assert len(cases) == len(CHECKS)
    failed = {c.get("name", "").split(":")[0] for c in cases if c.find("failure") is not None}
    assert failed == {"data", "stall"}
    assert root.get("failures") == "2"


def test_passing_report_says_so() -> None:
    f = facts(steps=[StepOutcome("upgrade", True, 0.1, reached="0002")])
    report = text(f, judge(f, Budgets()))
    assert "verdict: passed" in report
    assert "none seen (each was shorter than the sampling interval, if any)" in report


def test_a_failed_upgrade_counts_its_probed_tables_and_says_when_probes_stopped() -> None:
    failed = [StepOutcome("upgrade", False, 0.1, output="ERROR: boom", reached="0001")]
    stalls = [
        ProbeStall("orders", 0, 0, 0, [], 10),
        ProbeStall("audit_log", 0, 0, 0, [], 4, note="audit_log disappeared at 12 ms"),
    ]
    f = facts(steps=failed, stalls=stalls, timings={"clone": 0.2, "checksums": 0.1})
    rendered = text(f, judge(f, Budgets()))
    assert "no probe was stalled (2 tables probed)" in rendered
    assert "probes of audit_log stopped: audit_log disappeared at 12 ms" in rendered
    assert "time: clone 0.20s, checksums 0.10s" in rendered
