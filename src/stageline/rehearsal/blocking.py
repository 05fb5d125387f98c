"""Blocking work projected to production: the rule that fails a migration which would
block writes (or reads) of a big table for as long as the table takes to rewrite, read
or index. Pure.

For every ``TableWork`` of the trace (a rewrite, full scan or index build, charged to its
statement, with the strongest lock held on the table meanwhile) whose lock blocks writes
(``ShareLock`` and stronger) the stall is **projected to production's size** (table,
indexes and TOAST):

- measured: the statement's duration here times production's size over the copy's,
  when the copy is big enough to time it (``MEASURABLE``) and the work was timed;
- estimated: production's size at ``Budgets.work_mb_per_s`` otherwise (a copy of a few
  kilobytes times nothing but its overhead).

Over ``Budgets.max_blocking_ms`` it fails, naming the statement, the projection ("writes
to `orders` blocked ~140 ms here, ~9 min at production's 38 GB"), the safe rewrite and
how the service's tool writes it (``SAFE``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.rehearsal.facts import Budgets, RehearsalFacts, TableWork

BLOCKS_READS = frozenset({"AccessExclusiveLock"})
BLOCKS_WRITES = frozenset(
    {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}
)
#: a copy's table at least this big (bytes) is timed; smaller ones are estimated
MEASURABLE = 8 * 1024**2


@dataclass(frozen=True)
class Projection:
    work: TableWork
    clone_bytes: int
    production_bytes: int
    projected_ms: float
    estimated: bool


def project(work: TableWork, facts: RehearsalFacts, budgets: Budgets) -> Projection:
    """How long ``work`` would hold its lock at production's size."""
    here = facts.clone_sizes.get(work.table, 0)
    there = facts.production_sizes.get(work.table) or here
    if here >= MEASURABLE and work.ms > 0:
        return Projection(work, here, there, round(work.ms * there / here, 1), False)
    rate = budgets.work_mb_per_s * 1024**2 / 1000.0  # bytes per ms
    return Projection(work, here, there, round(max(work.ms, there / rate), 1), True)


def duration(ms: float) -> str:
    """``140 ms``, ``12 s``, ``9 min``, ``2.5 h``."""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.0f} s"
    if ms < 3 * 3_600_000:
        return f"{ms / 60_000:.0f} min"
    return f"{ms / 3_600_000:.1f} h"


def size(count: int) -> str:
    """``38 GB``, ``512 kB``."""
    value = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def blocking(facts: RehearsalFacts, budgets: Budgets) -> list[tuple[Projection, bool]]:
    """Each piece of work done under a lock that blocks writes, with its projection and
    whether it is over the budget (never when the budget is None or the table allowed)."""
    found: list[tuple[Projection, bool]] = []
    created = set(facts.trace.created)
    for work in facts.trace.work:
        if work.mode not in BLOCKS_WRITES or work.table in created:
            continue
        projection = project(work, facts, budgets)
        allowed = work.table in budgets.allow_rewrite | budgets.allow_access_exclusive
        limit = budgets.max_blocking_ms
        over = limit is not None and not allowed and projection.projected_ms > limit
        found.append((projection, over))
    return found


def message(projection: Projection, budgets: Budgets, tool: str) -> str:
    """The finding's text: what was blocked, for how long here and at production's size,
    the budget, and the safe rewrite."""
    work = projection.work
    what = "reads and writes" if work.mode in BLOCKS_READS else "writes"
    doing = {"rewrite": "rewritten", "scan": "read in full", "build": "indexed"}[work.kind]
    here = f"~{duration(work.ms)} here" if work.ms >= 1 else "briefly here"
    at = f"~{duration(projection.projected_ms)} at production's {size(projection.production_bytes)}"
    if projection.estimated:
        at += f" (estimated at {budgets.work_mb_per_s:.0f} MB/s)"
    budget = ""
    if budgets.max_blocking_ms is not None:
        budget = f", over the {duration(budgets.max_blocking_ms)} budget"
        if projection.projected_ms <= budgets.max_blocking_ms:
            budget = f", within the {duration(budgets.max_blocking_ms)} budget"
    statement = f" by {_short(work.statement)}" if work.statement else ""
    text = (
        f"{what} to `{work.table}` blocked ({work.mode} while it was {doing}){statement}: "
        f"{here}, {at}{budget}"
    )
    safe = safe_rewrite(work.statement, work.kind, tool)
    return f"{text}. Safe: {safe}" if safe else text


def _short(statement: str, limit: int = 100) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: (pattern of the statement, the safe rewrite, Alembic, Django)
SAFE: list[tuple[str, str, str, str]] = [
    (
        r"^CREATE\s+UNIQUE\s+INDEX",
        "CREATE UNIQUE INDEX CONCURRENTLY outside a transaction",
        "op.create_index(..., unique=True, postgresql_concurrently=True) inside "
        "`with op.get_context().autocommit_block():`",
        "AddIndexConcurrently (django.contrib.postgres.operations) in a migration with "
        "atomic = False",
    ),
    (
        r"^CREATE\s+INDEX",
        "CREATE INDEX CONCURRENTLY outside a transaction",
        "op.create_index(..., postgresql_concurrently=True) inside "
        "`with op.get_context().autocommit_block():`",
        "AddIndexConcurrently (django.contrib.postgres.operations) in a migration with "
        "atomic = False",
    ),
    (
        r"FOREIGN\s+KEY",
        "ADD the foreign key NOT VALID, then VALIDATE CONSTRAINT in a separate transaction "
        "(it takes only ShareUpdateExclusiveLock)",
        'op.execute("ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID"), then '
        'in the next migration op.execute("ALTER TABLE ... VALIDATE CONSTRAINT ...")',
        'RunSQL("ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID"), then '
        'RunSQL("ALTER TABLE ... VALIDATE CONSTRAINT ...") in a later migration (the field '
        "with db_constraint=False meanwhile)",
    ),
    (
        r"SET\s+NOT\s+NULL",
        "ADD CONSTRAINT ... CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT in a "
        "separate transaction, then SET NOT NULL (it uses the valid check and skips the "
        "scan) and drop the check",
        "op.execute(... CHECK (col IS NOT NULL) NOT VALID), op.execute(... VALIDATE "
        "CONSTRAINT ...) in the next migration, then op.alter_column(..., nullable=False)",
        "AddConstraintNotValid(CheckConstraint(...)) and ValidateConstraint "
        "(django.contrib.postgres.operations), then AlterField(null=False)",
    ),
    (
        r"\bCHECK\b",
        "ADD the CHECK constraint NOT VALID, then VALIDATE CONSTRAINT in a separate transaction",
        'op.execute("ALTER TABLE ... ADD CONSTRAINT ... CHECK (...) NOT VALID"), then '
        'op.execute("ALTER TABLE ... VALIDATE CONSTRAINT ...") in the next migration',
        "AddConstraintNotValid then ValidateConstraint (django.contrib.postgres.operations)",
    ),
    (
        r"\b(PRIMARY\s+KEY|UNIQUE)\b",
        "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
        "op.create_index(..., unique=True, postgresql_concurrently=True) in an autocommit "
        'block, then op.execute("ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...")',
        'AddIndexConcurrently, then RunSQL("ALTER TABLE ... ADD CONSTRAINT ... USING '
        'INDEX ...") with state_operations=[AddConstraint(...)]',
    ),
    (
        r"\bTYPE\b",
        "add a new column of the new type, backfill it in batches, switch the code to it, "
        "then drop the old one (no rewrite under the lock)",
        "op.add_column(...), a batched op.execute(UPDATE ... WHERE id BETWEEN ...) per "
        "batch outside the schema change, op.drop_column(...) in a later release",
        "AddField, a RunPython backfill in batches (atomic = False), RemoveField in a later "
        "release",
    ),
    (
        r"\bADD\b.*\b(DEFAULT|GENERATED|SERIAL|BIGSERIAL|IDENTITY)\b",
        "add the column without a volatile default (nullable, or a constant default), "
        "backfill it in batches, then set the default for new rows",
        "op.add_column(sa.Column(..., nullable=True)), a batched backfill, then "
        "op.alter_column(..., server_default=...)",
        "AddField(null=True), a RunPython backfill in batches, then AlterField",
    ),
    (
        r"^(UPDATE|DELETE)",
        "commit the schema change first, then backfill in batches, each in its own "
        "transaction (an ALTER's lock lasts until its transaction ends)",
        "a separate migration running the batches in `with op.get_context().autocommit_block():`",
        "a separate migration with atomic = False whose RunPython updates in batches",
    ),
    (
        r"^TRUNCATE",
        "DELETE in batches (or swap in a new empty table by rename)",
        'a loop of op.execute("DELETE FROM ... WHERE id IN (SELECT id ... LIMIT 10000)")',
        "RunPython deleting in batches (atomic = False)",
    ),
    (
        r"^(VACUUM|CLUSTER)",
        "pg_repack (or leave it to autovacuum); never VACUUM FULL / CLUSTER on a live table",
        "run pg_repack outside the migration",
        "run pg_repack outside the migration",
    ),
]


def safe_rewrite(statement: str, kind: str, tool: str) -> str:
    """The zero-downtime way to do what ``statement`` did, and how ``tool`` writes it."""
    text = " ".join(statement.split()).upper()
    for pattern, safe, alembic, django in SAFE:
        if re.search(pattern, text, re.IGNORECASE):
            how = {"alembic": alembic, "flask-migrate": alembic, "django": django}.get(tool)
            return f"{safe}" + (f"; with {tool}: {how}" if how else "")
    if kind == "rewrite":
        return (
            "expand and contract: add the new shape beside the old, backfill in batches, "
            "switch, then drop the old in a later release"
        )
    return ""
