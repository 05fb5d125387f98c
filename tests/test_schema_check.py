"""The pure rollback schema decision: the table in ``schema_check``'s docstring."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stageline.decisions.schema_check import (
    SchemaFacts,
    choices,
    compare,
    decide,
    migrates_at_start,
    plan_lines,
    refusal,
)
from stageline.errors import SchemaRefused, UsageError

AHEAD = SchemaFacts(
    environment="production",
    database="0003_order_channel",
    expected="0002_order_notes",
    recorded_in="production",
    older="1.7.0",
    newer="1.8.0",
    tool="alembic",
    rehearsal="passed in staging 2026-12-04 20:47: /x/rehearsal.txt",
    newer_digest="sha256:" + "b" * 64,
)
revisions = st.one_of(st.none(), st.sampled_from(["base", "0001", "0002", "app:0001,b:0002"]))


@pytest.mark.parametrize(
    ("database", "expected", "verdict"),
    [
        ("0002", "0002", "same"),
        (None, None, "same"),
        ("0003", "0002", "differs"),
        (None, "0002", "differs"),
        ("0003", None, "unknown"),
        ("shop:0003", "shop:0002", "differs"),
    ],
)
def test_compare(database: str | None, expected: str | None, verdict: str) -> None:
    assert compare(database, expected) == verdict


@given(revisions, revisions)
def test_only_equal_revisions_proceed_without_a_choice(a: str | None, b: str | None) -> None:
    decision = decide(replace(AHEAD, database=a, expected=b), migrate=False, keep_schema=False)
    assert decision.allowed == (a == b)
    assert (decision.action == "proceed") == (a == b)


@given(revisions, revisions)
def test_keep_schema_always_proceeds_and_says_so(a: str | None, b: str | None) -> None:
    decision = decide(replace(AHEAD, database=a, expected=b), migrate=False, keep_schema=True)
    assert decision.allowed
    assert decision.action == ("proceed" if a == b else "keep_schema")


def test_ahead_is_refused_naming_both_revisions_and_the_choices() -> None:
    decision = decide(AHEAD, migrate=False, keep_schema=False)
    assert decision.action == "refuse"
    error = refusal(decision)
    assert isinstance(error, SchemaRefused) and error.exit_code == 1
    assert "0003_order_channel" in str(error) and "0002_order_notes" in str(error)
    assert error.hint is not None and "--migrate or --keep-schema" in error.hint
    assert [c.split(":")[0] for c in error.choices] == ["--migrate", "--keep-schema"]
    assert "rehearsal.txt" in error.choices[0]


def test_migrate_downgrades_when_it_can() -> None:
    decision = decide(AHEAD, migrate=True, keep_schema=False)
    assert decision.action == "migrate"
    lines = plan_lines(decision, ["alembic downgrade 0002_order_notes"])
    assert "`alembic downgrade 0002_order_notes`" in lines[1]
    assert any("rehearsal" in line for line in lines)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"expected": None}, "no schema revision was recorded"),
        ({"tool": None}, "cannot be downgraded"),
        ({"database": None}, "cannot be downgraded"),
        ({"newer_digest": ""}, "nothing serves"),
    ],
)
def test_migrate_is_refused_when_there_is_nothing_to_migrate_with(
    change: dict[str, str | None], why: str
) -> None:
    decision = decide(replace(AHEAD, **change), migrate=True, keep_schema=False)  # type: ignore[arg-type]
    assert decision.action == "refuse"
    assert why in decision.reasons[0]
    assert refusal(decision).choices == []


def test_an_unrecorded_older_revision_offers_keep_schema_only() -> None:
    facts = replace(AHEAD, expected=None, recorded_in=None)
    decision = decide(facts, migrate=False, keep_schema=False)
    assert decision.verdict == "unknown" and decision.action == "refuse"
    assert "no schema revision was recorded for 1.7.0" in decision.reasons[0]
    assert [c.split(":")[0] for c in choices(facts)] == ["--keep-schema"]


def test_both_choices_at_once_are_a_usage_error() -> None:
    with pytest.raises(UsageError, match="exclude each other"):
        decide(AHEAD, migrate=True, keep_schema=True)


def test_a_self_migrating_older_release_is_named_in_the_refusal() -> None:
    decision = decide(replace(AHEAD, older_self_migrates=True), migrate=False, keep_schema=False)
    assert (
        "1.7.0 migrates itself at start and would fail on 0003_order_channel"
        in (decision.reasons[0])
    )


@pytest.mark.parametrize(
    ("start", "migrates"),
    [
        ("sh -c 'alembic upgrade head && exec uvicorn app:app'", True),
        ("sh -c 'python manage.py migrate --noinput && gunicorn site.wsgi'", True),
        ("uvicorn shop.app:app --port {port}", False),
        ("gunicorn migrations_viewer.wsgi", False),
    ],
)
def test_migrates_at_start(start: str, migrates: bool) -> None:
    assert migrates_at_start(start) is migrates


def test_dry_run_lines_show_both_revisions() -> None:
    refused = plan_lines(decide(AHEAD, migrate=False, keep_schema=False))
    assert (
        refused[0] == "schema: the database is at 0003_order_channel; 1.7.0 ran on 0002_order_notes"
    )
    assert refused[1].startswith("refused: ")
    kept = plan_lines(decide(AHEAD, migrate=False, keep_schema=True))
    assert "runs on it as it is (audited)" in kept[1]
    same = plan_lines(
        decide(replace(AHEAD, database="0002_order_notes"), migrate=False, keep_schema=False)
    )
    assert same == [
        "schema: the database is at 0002_order_notes; 1.7.0 ran on 0002_order_notes "
        "(same: nothing to migrate)"
    ]
