"""What each column of a snapshot gets: the rules matched against the source's catalog.

Pure. Fail closed: a column the rules do not classify (or that two patterns classify
differently), or a rule that cannot work on its column (a fake name on a unique column,
``null`` on a NOT NULL one, ``email`` on an integer, also when a pattern or a table
default brought it), is a *problem*, and :func:`check` refuses the whole snapshot
listing them all. Each column's plan names the rule that covered it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stageline.data.catalog import DATE_TYPES, INET_TYPES, Column, Table
from stageline.data.rules import UNIQUE_SAFE, ColumnRule, DataRules, pattern_matches
from stageline.errors import Refused

_TEXT_MASKS = frozenset({"redact", "hash", "email", "name", "phone", "address", "text"})


@dataclass(frozen=True)
class ColumnPlan:
    column: Column
    rule: ColumnRule | None
    problem: str | None = None
    #: where the rule is written (``data.tables.users.email``, ``data.patterns."*_id"``,
    #: ``data.table_defaults.countries``, ``data.schema_only``); "" when none covers it
    source: str = ""

    @property
    def mask(self) -> str:
        return self.rule.mask if self.rule else "UNCLASSIFIED"


@dataclass(frozen=True)
class TablePlan:
    table: Table
    columns: tuple[ColumnPlan, ...]
    schema_only: bool = False

    @property
    def passthrough(self) -> bool:
        """Every column kept: the COPY stream goes through untouched."""
        return all(c.rule is not None and c.rule.mask == "keep" for c in self.columns)


@dataclass(frozen=True)
class Plan:
    tables: tuple[TablePlan, ...]
    #: rules that name a table or column the source does not have (harmless, but stale)
    unused: tuple[str, ...]

    @property
    def problems(self) -> list[str]:
        return [
            f"{t.table.key}.{c.column.name}: {c.problem}"
            for t in self.tables
            for c in t.columns
            if c.problem
        ]

    @property
    def unclassified(self) -> list[str]:
        return [
            f"{t.table.key}.{c.column.name}" for t in self.tables for c in t.columns if not c.rule
        ]


def problem_of(column: Column, rule: ColumnRule) -> str | None:
    """Why ``rule`` cannot mask ``column``, or None when it fits."""
    mask = rule.mask
    if mask == "keep":
        return None
    if column.keyed and mask not in UNIQUE_SAFE:
        return (
            f"is unique or a key; {mask!r} would repeat values "
            "(use 'hash' or 'email', which stay unique and line up across tables, or 'keep')"
        )
    if mask == "null" and column.not_null:
        return "is NOT NULL; 'null' cannot fill it (use 'redact' or 'constant')"
    if mask in _TEXT_MASKS and not column.is_text:
        return f"is {column.type}; {mask!r} writes text (use 'keep', 'null' or 'constant')"
    if mask == "ip" and not (column.is_text or column.base in INET_TYPES):
        return f"is {column.type}; 'ip' needs an inet or text column"
    if mask == "date" and column.base not in DATE_TYPES:
        return f"is {column.type}; 'date' needs a date or timestamp column"
    if mask == "json" and not (column.is_json or column.is_text):
        return f"is {column.type}; 'json' needs a json, jsonb or text column"
    return None


def make_plan(tables: list[Table], rules: DataRules) -> Plan:
    plans: list[TablePlan] = []
    seen: set[str] = set()
    for table in tables:
        seen.add(table.key)
        if table.key in rules.schema_only:
            keep = ColumnRule(mask="keep")
            cols = tuple(ColumnPlan(c, keep, source="data.schema_only") for c in table.columns)
            plans.append(TablePlan(table, cols, schema_only=True))
            continue
        columns = tuple(_column_plan(rules, table, column) for column in table.columns)
        plans.append(TablePlan(table, columns))
    return Plan(tuple(plans), tuple(_unused(tables, rules, seen)))


def _column_plan(rules: DataRules, table: Table, column: Column) -> ColumnPlan:
    cover = rules.cover(table.key, column.name)
    if cover.rule is None:
        return ColumnPlan(column, None, cover.conflict or "not classified", cover.source)
    return ColumnPlan(column, cover.rule, problem_of(column, cover.rule), cover.source)


def _unused(tables: list[Table], rules: DataRules, seen: set[str]) -> list[str]:
    """Rules that name a table or column the source does not have, and patterns that
    match no column."""
    unused = [name for name in rules.tables if name not in seen]
    unused += [name for name in rules.schema_only if name not in seen]
    unused += [name for name in rules.table_defaults if name not in seen]
    by_key = {t.key: t for t in tables}
    for name, named in rules.tables.items():
        if name in by_key:
            have = {c.name for c in by_key[name].columns}
            unused += [f"{name}.{col}" for col in named if col not in have]
    for pattern in rules.patterns:
        if not any(pattern_matches(pattern, t.key, c.name) for t in tables for c in t.columns):
            unused.append(f"pattern {pattern!r}")
    return unused


def check(plan: Plan, source: str) -> None:
    """Refuse a plan with problems, naming every ``table.column`` and what is wrong."""
    problems = plan.problems
    if not problems:
        return
    unclassified = plan.unclassified
    more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
    shown = "; ".join(problems[:20]) + more
    if unclassified:
        table, column = unclassified[0].rsplit(".", 1)
        hint = (
            f'classify every column in the pipeline file, e.g. {column} = "keep" (or a '
            f'transformer such as "hash", "email", "name", "null") in the data.tables.{table} '
            f"table, or by a data.patterns glob; `stageline snapshot plan {source}` shows all "
            "and `--write` drafts rules for the columns not classified"
        )
    else:
        hint = (
            f"fix the rules in the pipeline file's [data]; `stageline snapshot plan {source}` "
            "shows each column's rule"
        )
    raise Refused(
        f"{len(problems)} column(s) of {source} cannot be snapshot safely: {shown}", hint=hint
    )
