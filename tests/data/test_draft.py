"""Drafted masking rules: suggestions from names, types and values; short drafts that
cover every column as suggested; merging into a pipeline file without changing a line."""

from __future__ import annotations

import tomllib

import pytest

from stageline.data.catalog import Column, Table
from stageline.data.draft import draft, merge
from stageline.data.plan import make_plan, problem_of
from stageline.data.rules import ColumnRule, DataRules
from stageline.data.suggest import Suggestion, suggest
from stageline.errors import UsageError


def _col(name: str, base: str = "text", *, keyed: bool = False, not_null: bool = False) -> Column:
    return Column(name, base, base, not_null, None, keyed)


@pytest.mark.parametrize(
    ("column", "samples", "mask"),
    [
        (_col("id", "int8", keyed=True), [], "keep"),
        (_col("user_id", "int8", keyed=True), [], "keep"),
        (_col("external_id"), ["A-1", "B-2"], "keep"),
        (_col("created_at", "timestamptz"), [], "keep"),
        (_col("date_of_birth", "date"), [], "date"),
        (_col("last_ip", "inet"), [], "ip"),
        (_col("email", keyed=True), [], "email"),
        (_col("contactEmail"), [], "email"),
        (_col("email_verified", "bool"), [], "null"),
        (_col("email_verified", "bool", not_null=True), [], "keep"),
        (_col("mobile_phone"), [], "phone"),
        (_col("client_ip"), [], "ip"),
        (_col("first_name", not_null=True), [], "name"),
        (_col("username", keyed=True), [], "hash"),  # unique: a fake name could repeat
        (_col("street"), [], "address"),
        (_col("city"), [], "redact"),
        (_col("password_hash"), [], "hash"),
        (_col("api_key"), [], "hash"),
        (_col("user_agent"), [], "redact"),
        (_col("note"), [], "text"),
        (_col("status"), ["paid", "open", "paid"], "keep"),
        (_col("country", "bpchar"), ["GB", "FR"], "keep"),
        (_col("contact"), ["ada@real.test", "bob@real.test"], "email"),
        (_col("who"), ["Ada Lovelace", "Grace Hopper", "Alan Turing"], "name"),
        (_col("origin"), ["10.0.0.1", "2001:db8::1"], "ip"),
        (_col("reach"), ["+44 20 7946 0001", "(555) 010-2000"], "phone"),
        (_col("ref"), ["k8Jd92hsJ3kd0slq2Xk2", "Zq0sk29dKs8d2hs9sJk1"], "hash"),
        (_col("memo"), ["call me at ada@real.test", "nothing"], "text"),
        (_col("remarks_2"), ["later"], "text"),
        (_col("summary"), ["it arrived late and broken, refund please", "all good, thanks a lot"],
         "text"),
        (_col("name"), ["Mug", "Tea"], "keep"),
        (_col("name"), ["Ada Lovelace", "Grace Hopper"], "name"),
        (_col("title"), [], "keep"),
        (_col("client_ip", "inet", keyed=True), [], "keep"),  # no unique fake IPs: review
        (_col("birth_date", "date", keyed=True), [], "keep"),
        (_col("phone", "int8", not_null=True), [], "keep"),
    ],
)  # fmt: skip
def test_suggestions(column: Column, samples: list[str], mask: str) -> None:
    found = suggest(column, samples)
    assert found.rule.mask == mask, found.reason
    assert problem_of(column, found.rule) is None
    assert found.review == ("review" in found.reason)
    assert not any(value in found.reason for value in samples)


def test_json_suggestion_names_the_keys_that_look_personal() -> None:
    samples = [
        '{"email": "ada@real.test", "prefs": {"dark": true}, "home": {"street": "1 Elm Row"}}',
        '{"contact": "+44 20 7946 0002", "tags": ["a"], "nick": "Grace Hopper"}',
    ]
    found = suggest(_col("profile", "jsonb"), samples)
    assert found.rule == ColumnRule(
        mask="json",
        keys={"email": "email", "street": "address", "contact": "phone", "nick": "name"},
    )
    assert suggest(_col("settings", "jsonb"), ['{"dark": true, "size": "L"}']).rule.mask == "keep"


TABLES = [
    Table(
        "public",
        "users",
        (
            _col("id", "int8", keyed=True),
            _col("email", keyed=True),
            _col("full_name"),
            _col("created_at", "timestamptz"),
        ),
    ),
    Table(
        "public",
        "orders",
        (
            _col("id", "int4", keyed=True),
            _col("user_id", "int8", keyed=True),
            _col("customer_email"),
            _col("total", "int4"),
            _col("paid_at", "timestamptz"),
        ),
    ),
    Table("public", "countries", (_col("code", keyed=True), _col("name"))),
    Table("audit", "log", (_col("id", "int8"), _col("actor_id", "int8"), _col("what"))),
]


def _suggestions() -> dict[tuple[str, str], Suggestion]:
    return {
        (t.key, c.name): suggest(c, ["FR", "GB"] if t.name == "countries" else [])
        for t in TABLES
        for c in t.columns
    }


def test_a_fresh_draft_is_short_and_gives_every_column_its_suggestion() -> None:
    suggestions = _suggestions()
    block = draft(TABLES, suggestions, DataRules())
    assert block.columns == 14
    text = merge("[data]\nkeep = 2\n", block, prefix=(), comment="# drafted\n")
    rules = DataRules.model_validate(tomllib.loads(text)["data"])
    assert rules.keep == 2
    plan = make_plan(TABLES, rules)
    assert plan.problems == []
    got = {(t.table.key, c.column.name): c.rule for t in plan.tables for c in t.columns}
    assert got == {key: s.rule for key, s in suggestions.items()}
    assert set(rules.patterns) == {"id", "*_id", "*_at", "*email*"}
    assert set(rules.table_defaults) == {"countries"}
    assert {t: set(c) for t, c in rules.tables.items()} == {
        "users": {"full_name"},
        "orders": {"total"},
        "audit.log": {"what"},  # no rows to judge by: a line to review, not a default
    }
    assert '[data.tables."audit.log"]' in text
    assert 'full_name = "name"  # named like a person\'s name' in text


def test_drafting_onto_existing_rules_adds_lines_and_changes_none() -> None:
    original = (
        "[service]\nname = 'shop'\n\n"
        "[data.tables.users]  # hand-written\nid = 'keep'\nemail = 'hash'\n\n"
        "[data.patterns]\n'*_at' = 'keep'\n\n[environments.production]\ntier = 'production'\n"
    )
    existing = DataRules.model_validate(tomllib.loads(original)["data"])
    block = draft(TABLES, _suggestions(), existing)
    assert not block.patterns and not block.table_defaults  # only lines, per column
    text = merge(original, block, prefix=(), comment="# drafted\n")
    assert all(line in text.splitlines() for line in original.splitlines())
    rules = DataRules.model_validate(tomllib.loads(text)["data"])
    assert rules.rule("users", "email") == ColumnRule(mask="hash")  # unchanged
    assert make_plan(TABLES, rules).problems == []
    lines = text.splitlines()
    users = lines.index("[data.tables.users]  # hand-written")
    assert lines[users + 3].startswith("full_name = ")  # inserted into its section
    assert draft(TABLES, _suggestions(), rules).empty


def test_a_pyproject_draft_goes_under_tool_stageline() -> None:
    block = draft(TABLES, _suggestions(), DataRules())
    text = merge("[tool.stageline.service]\nname = 'shop'\n", block, prefix=("tool", "stageline"),
                 comment="# drafted\n")  # fmt: skip
    data = tomllib.loads(text)["tool"]["stageline"]["data"]
    assert make_plan(TABLES, DataRules.model_validate(data)).problems == []


def test_a_table_written_inline_cannot_take_drafted_lines() -> None:
    original = "[data.tables]\nusers = { id = 'keep' }\n"
    block = draft(TABLES, _suggestions(), DataRules.model_validate(tomllib.loads(original)["data"]))
    with pytest.raises(UsageError, match="do not fit") as caught:
        merge(original, block, prefix=(), comment="# drafted\n")
    assert caught.value.hint is not None and "--file" in caught.value.hint
