"""Masking rules by pattern and table default: which rule covers a column, and why."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stageline.data.catalog import Column, Table
from stageline.data.plan import check, make_plan
from stageline.data.rules import ColumnRule, DataRules, pattern_matches, split_pattern
from stageline.errors import Refused


def _col(name: str, base: str = "text", *, keyed: bool = False) -> Column:
    return Column(name, base, base, False, None, keyed)


def _rules(**data: Any) -> DataRules:
    return DataRules.model_validate(data)


@pytest.mark.parametrize(
    ("pattern", "table", "column", "matches"),
    [
        ("*email*", "users", "email", True),
        ("*email*", "orders", "customer_email_hash", True),
        ("*email*", "users", "contactEmail", True),  # case is ignored
        ("*_ip", "requests", "client_ip", True),
        ("*_ip", "requests", "ip", False),  # whole names only
        ("*_ip", "requests", "ip_range", False),
        ("requests.*_ip", "requests", "client_ip", True),
        ("requests.*_ip", "sessions", "client_ip", False),
        ("req*.user_agent", "requests_2026", "user_agent", True),
        ("audit.*.actor", "audit.log", "actor", True),  # the last dot splits
        ("audit.*.actor", "log", "actor", False),
        ("col_[ab]", "t", "col_b", True),
        ("col_[ab]", "t", "col_c", False),
    ],
)
def test_pattern_matching(pattern: str, table: str, column: str, matches: bool) -> None:
    assert pattern_matches(pattern, table, column) is matches


def test_split_pattern() -> None:
    assert split_pattern("*_ip") == (None, "*_ip")
    assert split_pattern("requests.*_ip") == ("requests", "*_ip")
    assert split_pattern("audit.log.actor") == ("audit.log", "actor")


def test_precedence_explicit_then_scoped_pattern_then_global_pattern_then_table_default() -> None:
    rules = _rules(
        tables={"users": {"email": "hash"}},
        patterns={"*email*": "email", "u*.*_email": "null", "users.note": "text", "*_at": "keep"},
        table_defaults={"users": "redact", "countries": "keep"},
    )
    cover = rules.cover("users", "email")
    assert cover.rule == ColumnRule(mask="hash") and cover.source == "data.tables.users.email"
    cover = rules.cover("users", "backup_email")  # scoped pattern beats global pattern
    assert cover.rule == ColumnRule(mask="null")
    assert cover.source == 'data.patterns."u*.*_email"'
    cover = rules.cover("orders", "backup_email")
    assert cover.rule == ColumnRule(mask="email") and cover.source == 'data.patterns."*email*"'
    cover = rules.cover("countries", "contact_email")  # a pattern beats a table default
    assert cover.rule == ColumnRule(mask="email")
    cover = rules.cover("countries", "name")
    assert cover.rule == ColumnRule(mask="keep")
    assert cover.source == "data.table_defaults.countries"
    assert rules.cover("users", "bio").source == "data.table_defaults.users"
    cover = rules.cover("orders", "bio")
    assert cover.rule is None and cover.source == "" and cover.conflict is None
    assert rules.rule("users", "created_at") == ColumnRule(mask="keep")


def test_patterns_of_one_level_that_disagree_classify_nothing() -> None:
    rules = _rules(patterns={"*email*": "email", "*_hash": "keep", "*_at": "keep", "*at": "keep"})
    cover = rules.cover("users", "email_hash")
    assert cover.rule is None and cover.conflict is not None
    assert "'*email*' (email) and '*_hash' (keep)" in cover.conflict
    assert rules.cover("users", "created_at").rule == ColumnRule(mask="keep")  # they agree
    tables = [Table("public", "users", (_col("email_hash"), _col("created_at", "timestamptz")))]
    plan = make_plan(tables, rules)
    assert plan.unclassified == ["users.email_hash"]
    assert plan.problems == [f"users.email_hash: {cover.conflict}"]
    with pytest.raises(Refused, match="both match"):
        check(plan, "production")


def test_a_pattern_that_does_not_fit_its_column_is_a_problem_not_a_skip() -> None:
    rules = _rules(patterns={"*email*": "email", "id": "keep"})
    tables = [
        Table("public", "users", (_col("id", "int8", keyed=True), _col("email_verified", "bool")))
    ]
    plan = make_plan(tables, rules)
    assert plan.problems == ["users.email_verified: is bool; 'email' writes text "
                             "(use 'keep', 'null' or 'constant')"]  # fmt: skip
    column = plan.tables[0].columns[1]
    assert column.source == 'data.patterns."*email*"' and column.mask == "email"


def test_plan_names_the_rule_of_every_column_and_unused_patterns() -> None:
    tables = [
        Table("public", "users", (_col("id", "int8", keyed=True), _col("email"), _col("bio"))),
        Table("public", "countries", (_col("code"), _col("name"))),
        Table("public", "sessions", (_col("token"),)),
    ]
    rules = _rules(
        schema_only=["sessions"],
        tables={"users": {"bio": "text"}},
        patterns={"id": "keep", "*email*": "email", "*_ip": "ip"},
        table_defaults={"countries": "keep", "gone": "keep"},
    )
    plan = make_plan(tables, rules)
    assert plan.problems == []
    sources = {(t.table.key, c.column.name): c.source for t in plan.tables for c in t.columns}
    assert sources == {
        ("users", "id"): "data.patterns.id",
        ("users", "email"): 'data.patterns."*email*"',
        ("users", "bio"): "data.tables.users.bio",
        ("countries", "code"): "data.table_defaults.countries",
        ("countries", "name"): "data.table_defaults.countries",
        ("sessions", "token"): "data.schema_only",
    }
    assert set(plan.unused) == {"gone", "pattern '*_ip'"}
    # fail closed: a column added later to a table without a default stops the snapshot
    grown = [Table("public", "users", (*tables[0].columns, _col("passport"))), *tables[1:]]
    assert make_plan(grown, rules).unclassified == ["users.passport"]


def test_globs_that_would_classify_whole_tables_are_refused() -> None:
    for bad in (
        {"patterns": {"*": "keep"}},
        {"patterns": {"users.*": "keep"}},
        {"patterns": {"?*": "keep"}},
        {"table_defaults": {"lookup_*": "keep"}},
        {"patterns": {"*email*": "emial"}},
    ):
        with pytest.raises(ValidationError):
            DataRules.model_validate(bad)


def test_digest_covers_patterns_and_defaults_and_keeps_old_digests() -> None:
    tables = {"users": {"id": "keep"}}
    plain = _rules(tables=tables)
    assert plain.digest == _rules(tables=tables, patterns={}, table_defaults={}).digest
    with_pattern = _rules(tables=tables, patterns={"*_id": "keep"})
    with_default = _rules(tables=tables, table_defaults={"users": "keep"})
    assert len({plain.digest, with_pattern.digest, with_default.digest}) == 3
