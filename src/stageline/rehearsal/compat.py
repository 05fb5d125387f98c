"""Can the release running now live with the upgraded schema? Pure.

During a blue/green switch, and after a rollback that keeps the schema, the previous
release's code runs on the candidate's schema. ``previous_release_breaks`` compares the
schema at production's revision with the schema after the upgrade (both as
``fingerprint.schema_fingerprint`` reads them) and lists what that code cannot cope with:

================================================  =========  ==========================
after the upgrade                                 kind       why it breaks
================================================  =========  ==========================
a new column NOT NULL without a default            not-null   its INSERTs omit the column
an existing column made NOT NULL without default   not-null   it may insert NULL there
a column of a table that is still there is gone   missing    it still reads/writes it
================================================  =========  ==========================

Identity and generated columns fill themselves and never count. The tools' bookkeeping
tables are ignored; a table dropped whole is reported by the judge's ``drop`` check.
"""

from __future__ import annotations

from stageline.rehearsal.facts import CompatIssue
from stageline.rehearsal.fingerprint import Schema

_BOOKKEEPING = frozenset({"alembic_version", "django_migrations"})


def _split(key: str) -> tuple[str, str]:
    """``public.orders.note`` as ("orders", "note"); other schemas keep their prefix."""
    table, _, column = key.rpartition(".")
    return table.removeprefix("public."), column


def _fills_itself(definition: str) -> bool:
    return " default " in definition or " identity " in definition or "generated" in definition


def _not_null(definition: str) -> bool:
    return " not null" in definition


def previous_release_breaks(before: Schema, after: Schema) -> list[CompatIssue]:
    """What in ``after`` the code written for ``before`` cannot cope with (sorted)."""
    old, new = before.get("column", {}), after.get("column", {})
    old_tables = set(before.get("table", {}))
    new_tables = set(after.get("table", {}))
    issues: list[CompatIssue] = []
    for key, definition in new.items():
        table, column = _split(key)
        full_table = key.rpartition(".")[0]
        if table in _BOOKKEEPING or full_table not in old_tables:
            continue  # a new table: the previous release does not know it
        if not _not_null(definition) or _fills_itself(definition):
            continue
        previous = old.get(key)
        if previous is None or not _not_null(previous):
            issues.append(CompatIssue(table, column, "not-null"))
    for key in old:
        table, column = _split(key)
        full_table = key.rpartition(".")[0]
        if table in _BOOKKEEPING or full_table not in new_tables:
            continue
        if key not in new:
            issues.append(CompatIssue(table, column, "missing"))
    return sorted(issues, key=lambda i: (i.table, i.column, i.kind))


def describe(issue: CompatIssue) -> str:
    """The finding's message."""
    if issue.kind == "not-null":
        return (
            f"the previous release cannot write to `{issue.table}` after this migration "
            f"({issue.column} is NOT NULL without a default)"
        )
    return (
        f"the previous release still uses {issue.table}.{issue.column} "
        "(dropped or renamed by this migration)"
    )
