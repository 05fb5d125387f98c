"""The rehearsal's safety rules on hand-made facts: a step that leaves the copy where it
was, a first release, a rollback to the floor, waivers, and what the upgraded schema
breaks for the release running now."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from pydantic import ValidationError

from stageline.gates.registry import parse_options
from stageline.rehearsal.compat import describe, previous_release_breaks
from stageline.rehearsal.facts import Budgets, CompatIssue, StepOutcome, Waiver
from stageline.rehearsal.judge import judge, waive
from stageline.rehearsal.report import as_json, junit, text
from stageline.rehearsal.run import checked
from stageline.rehearsal.tools import applied, with_floor

from .test_judge import facts

TODAY = date(2026, 12, 4)


def test_checked_passes_a_step_that_reached_its_target() -> None:
    step = checked(StepOutcome("downgrade", True, 0.1, reached="0001"), expected="0001")
    assert step.ok and step.moved and step.expected == "0001"


def test_checked_fails_a_step_that_left_the_copy_elsewhere() -> None:
    step = checked(StepOutcome("downgrade", True, 0.1, reached="0002"), expected="0001")
    assert not step.ok and not step.moved and step.expected == "0001"


def test_checked_fails_an_upgrade_that_stayed_put() -> None:
    step = checked(StepOutcome("upgrade", True, 0.1, reached="0001"), past="0001")
    assert (step.ok, step.moved, step.expected) == (False, False, "past 0001")


def test_checked_leaves_a_failed_step_as_it_is() -> None:
    failed = StepOutcome("upgrade", False, 0.1, reached="0001")
    assert checked(failed, past="0001") == failed


def test_copy_that_did_not_move_is_a_failure_naming_the_revisions() -> None:
    steps = [
        StepOutcome("upgrade", True, 0.1, reached="0002"),
        StepOutcome("downgrade", False, 0.1, reached="0002", expected="0001", moved=False),
    ]
    verdict = judge(facts(steps=steps), Budgets(), TODAY)
    assert not verdict.passed
    message = verdict.failures[0].message
    assert message.startswith("the copy did not move: does the tool read other variables?")
    assert "brought the copy to 0001; it is at 0002" in message
    assert "rollback restores" not in verdict.summary


def test_first_release_passes_honestly_without_a_rollback() -> None:
    first = facts(
        production_revision="base", steps=[StepOutcome("upgrade", True, 0.1, reached="0002")],
        first_release=True,
    )  # fmt: skip
    verdict = judge(first, Budgets(), TODAY)
    assert verdict.passed, verdict.findings
    assert verdict.summary.startswith("base -> 0002: downtime window")
    assert verdict.summary.endswith("upgrade from an empty database ok; no earlier release to "
                                    "roll back to")  # fmt: skip


def test_rollback_to_the_floor_is_said_so() -> None:
    verdict = judge(facts(rollback_revision="0001b"), Budgets(), TODAY)
    assert verdict.passed
    assert "rollback to the floor 0001b ok" in verdict.summary


def test_compat_issues_fail_by_default() -> None:
    issues = [CompatIssue("items", "sku", "not-null"), CompatIssue("items", "note", "missing")]
    verdict = judge(facts(compat=issues), Budgets(), TODAY)
    assert [f.message for f in verdict.failures] == [
        "the previous release cannot write to `items` after this migration (sku is NOT NULL "
        "without a default)",
        "the previous release still uses items.note (dropped or renamed by this migration)",
    ]
    assert {f.check for f in verdict.failures} == {"compat"}
    assert '<failure message="the previous release cannot write' in junit(facts(compat=issues),
                                                                          verdict)  # fmt: skip


@pytest.mark.parametrize(
    ("expires", "passed"), [(date(2026, 12, 31), True), (TODAY, True), (date(2026, 12, 3), False)]
)
def test_waiver_until_its_expiry(expires: date, passed: bool) -> None:
    waiver = Waiver("CANNOT WRITE to `items`", "old release retired by then", expires)
    issues = [CompatIssue("items", "sku", "not-null")]
    verdict = judge(facts(compat=issues), Budgets(waivers=(waiver,)), TODAY)
    assert verdict.passed is passed
    finding = verdict.findings[0]
    report = text(facts(compat=issues), verdict)
    if passed:
        assert finding.severity == "warn"
        assert finding.waived == f"old release retired by then (until {expires.isoformat()})"
        assert "waived the previous release cannot write" in report
        assert verdict.waivers[0].startswith("waived: the previous release cannot write")
    else:
        assert finding.severity == "fail" and not finding.waived
        assert verdict.waivers == [
            "expired 2026-12-03, not applied: 'CANNOT WRITE to `items`' (old release retired "
            "by then)"
        ]
        assert "expired 2026-12-03" in report
    assert as_json(facts(compat=issues), verdict)["waivers"] == verdict.waivers


def test_waivers_touch_failures_only() -> None:
    findings = judge(facts(compat=[CompatIssue("t", "c", "missing")]), Budgets(), TODAY).findings
    advice = dataclasses.replace(findings[0], severity="advice")
    waived, lines = waive([advice], (Waiver("t.c", "r", TODAY),), TODAY)
    assert waived == [advice] and lines == []


def schema(columns: dict[str, str], tables: tuple[str, ...] = ("public.items",)) -> dict:
    return {"table": {t: "r" for t in tables}, "column": columns}


BEFORE = schema({
    "public.items.id": "#1 integer not null default nextval('items_id_seq'::regclass)",
    "public.items.name": "#2 text not null",
    "public.items.note": "#3 text null",
    "public.items.size": "#4 text null",
})  # fmt: skip


def test_compat_flags_new_not_null_without_default_and_missing_columns() -> None:
    after = schema({
        "public.items.id": BEFORE["column"]["public.items.id"],
        "public.items.name": "#2 text not null",
        "public.items.size": "#3 text not null",  # made NOT NULL: the old code may omit it
        "public.items.sku": "#4 text not null",
        "public.items.kind": "#5 text not null default 'a'::text",
        "public.items.uid": "#6 bigint not null identity a",
        "public.items.extra": "#7 text null",
    })  # fmt: skip
    issues = previous_release_breaks(BEFORE, after)
    assert issues == [
        CompatIssue("items", "note", "missing"),
        CompatIssue("items", "size", "not-null"),
        CompatIssue("items", "sku", "not-null"),
    ]
    assert describe(issues[0]) == (
        "the previous release still uses items.note (dropped or renamed by this migration)"
    )


def test_compat_ignores_new_tables_dropped_tables_and_bookkeeping() -> None:
    before = schema(
        {**BEFORE["column"], "public.gone.id": "#1 integer not null",
         "public.alembic_version.version_num": "#1 varchar(32) not null"},
        ("public.items", "public.gone", "public.alembic_version"),
    )  # fmt: skip
    after = schema(
        {**BEFORE["column"], "public.fresh.id": "#1 integer not null"},
        ("public.items", "public.fresh", "public.alembic_version"),
    )  # fmt: skip
    assert previous_release_breaks(before, after) == []


def test_applied_reads_alembic_and_django_output() -> None:
    output = (
        "INFO  [alembic.runtime.migration] Running upgrade 0001 -> 0002_x, note\n"
        "INFO  [alembic.runtime.migration] Running upgrade 0002_x -> 0003_y, more\n"
        "  Applying notes.0002_note_title... OK\n  Unapplying notes.0001_initial... OK\n"
    )
    assert applied(output) == ["0002_x", "0003_y", "notes:0002_note_title"]


@pytest.mark.parametrize(
    ("target", "floor", "expected"),
    [
        ("0001", "0002", "0002"),
        ("auth:0012_x,notes:0001_initial", "notes:0002_y", "auth:0012_x,notes:0002_y"),
        ("zero", "notes:0001_initial", "notes:0001_initial"),
    ],
)
def test_with_floor(target: str, floor: str, expected: str) -> None:
    assert with_floor(target, floor) == expected


def test_floor_and_waivers_options_parse_as_the_loader_does() -> None:
    options = parse_options("migrations", {
        "floor": "0004_accounts",
        "waivers": [{"match": "cannot write", "reason": "drained", "expires": "2027-01-31"}],
    })  # fmt: skip
    budgets = options.budgets()  # type: ignore[attr-defined]
    assert budgets.waivers == (Waiver("cannot write", "drained", date(2027, 1, 31)),)
    assert options.floor == "0004_accounts"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "bad"),
    [
        ("migrations", {"waivers": [{"match": "x", "reason": "y", "expires": "soon"}]}),
        ("migrations", {"waivers": [{"match": "x", "expires": "2027-01-01"}]}),
        ("migrations", {"waivers": [{"match": "", "reason": "y", "expires": "2027-01-01"}]}),
        ("pytest", {"database": "elsewhere"}),
    ],
)
def test_bad_safety_options_are_refused(kind: str, bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_options(kind, bad)
