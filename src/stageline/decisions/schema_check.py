"""May an older release be switched in on the schema its environment's database is at?

The pure half of schema-aware rollback (``schema_state`` does the reading and the
migrating). Facts in, a decision out:

=====================  =====================  =========================================
database now           older release ran on   verdict
=====================  =====================  =========================================
X                      X                      ``same``: proceed
none                   none                   ``same`` (no migration tool, no database)
X                      not recorded           ``unknown``: refuse; ``--keep-schema`` only
X (or none)            Y (Y != X)             ``differs``: refuse; ``--migrate`` or
                                              ``--keep-schema``
=====================  =====================  =========================================

``--migrate`` downgrades the database to Y with the *serving* (newer) release's tool
before the switch; it needs both revisions and a tool that keeps one. ``--keep-schema``
accepts running the older code on X as it is. Asking for both is a usage error; asking
for either when the revisions agree changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from stageline.errors import SchemaRefused, UsageError

Verdict = Literal["same", "differs", "unknown"]
Action = Literal["proceed", "migrate", "keep_schema", "refuse"]

#: a start command that runs the service's migrations before (or instead of) serving
_SELF_MIGRATING = re.compile(r"\b(alembic\s+upgrade|manage\.py\s+migrate|migrate)\b")


@dataclass(frozen=True)
class SchemaFacts:
    """What a rollback decides on; revisions are the migration tool's own spelling."""

    environment: str
    #: the revision the live database is at now (None: no tool keeps one there)
    database: str | None
    #: the revision recorded when the older release last ran (None: never recorded)
    expected: str | None
    #: where ``expected`` was recorded ("production", or another environment's name)
    recorded_in: str | None
    older: str  # the older release's version
    newer: str  # the serving release's version
    #: the migration tool that reads and moves the revision ("alembic", "flask-migrate",
    #: "django", or None)
    tool: str | None
    #: the older release's start command migrates the database itself
    older_self_migrates: bool = False
    #: the newest rehearsal of the serving release, as "status: path" (or None)
    rehearsal: str | None = None
    newer_digest: str = ""


@dataclass(frozen=True)
class SchemaDecision:
    facts: SchemaFacts
    verdict: Verdict
    action: Action
    reasons: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.action != "refuse"

    def as_json(self) -> dict[str, object]:
        facts = self.facts
        return {
            "database": facts.database,
            "expected": facts.expected,
            "recorded_in": facts.recorded_in,
            "tool": facts.tool,
            "verdict": self.verdict,
            "action": self.action,
            "reasons": self.reasons,
            "rehearsal": facts.rehearsal,
        }


def compare(database: str | None, expected: str | None) -> Verdict:
    """The verdict of the table in the module docstring."""
    if database == expected:
        return "same"
    if expected is None:
        return "unknown"
    return "differs"


def migrates_at_start(start: str) -> bool:
    """True if a start command runs migrations (``alembic upgrade``, ``manage.py migrate``)."""
    return bool(_SELF_MIGRATING.search(start))


def decide(facts: SchemaFacts, *, migrate: bool, keep_schema: bool) -> SchemaDecision:
    """Proceed, migrate first, keep the schema, or refuse (with the reason)."""
    if migrate and keep_schema:
        raise UsageError(
            "--migrate and --keep-schema exclude each other",
            hint="--migrate downgrades the database first; --keep-schema leaves it as it is",
        )
    verdict = compare(facts.database, facts.expected)
    if verdict == "same":
        return SchemaDecision(facts, verdict, "proceed")
    if keep_schema:
        return SchemaDecision(facts, verdict, "keep_schema")
    if migrate:
        problem = _cannot_migrate(facts)
        if problem is None:
            return SchemaDecision(facts, verdict, "migrate")
        return SchemaDecision(facts, verdict, "refuse", [problem])
    return SchemaDecision(facts, verdict, "refuse", [mismatch(facts)])


def _cannot_migrate(facts: SchemaFacts) -> str | None:
    if not facts.newer_digest:
        return f"nothing serves in {facts.environment}: no release's tool can downgrade"
    if facts.expected is None:
        return (
            f"no schema revision was recorded for {facts.older}: there is no revision "
            "to migrate the database to"
        )
    if facts.database is None or facts.tool not in ("alembic", "flask-migrate", "django"):
        return (
            f"{facts.environment}'s database keeps no revision an alembic, flask-migrate or "
            "django tool can move: it cannot be downgraded"
        )
    return None


def mismatch(facts: SchemaFacts) -> str:
    """The one-line reason a rollback is refused, naming both revisions."""
    now = facts.database or "no revision"
    if facts.expected is None:
        text = (
            f"{facts.environment}'s database is at schema {now}, and no schema revision "
            f"was recorded for {facts.older} (it ran before stageline recorded them)"
        )
    else:
        where = f" in {facts.recorded_in}" if facts.recorded_in else ""
        text = (
            f"{facts.environment}'s database is at schema {now} ({facts.newer}), "
            f"but {facts.older} ran on {facts.expected}{where}"
        )
    if facts.older_self_migrates:
        text += f"; {facts.older} migrates itself at start and would fail on {now}"
    return text


def choices(facts: SchemaFacts) -> list[str]:
    """What the user can do about a refusal, one line each."""
    found: list[str] = []
    if _cannot_migrate(facts) is None:
        proved = f"; rehearsed: {facts.rehearsal}" if facts.rehearsal else ""
        found.append(
            f"--migrate: downgrade the database to {facts.expected} with {facts.newer}'s "
            f"{facts.tool} first, then switch{proved}"
        )
    found.append(
        f"--keep-schema: run {facts.older} on {facts.database or 'the schema as it is'} "
        "as it is (audited)"
    )
    return found


def refusal(decision: SchemaDecision) -> SchemaRefused:
    """The error a refused decision raises."""
    facts = decision.facts
    return SchemaRefused(
        facts.environment,
        database=facts.database,
        expected=facts.expected,
        reason=decision.reasons[0],
        choices=[] if decision.reasons[0] != mismatch(facts) else choices(facts),
    )


def plan_lines(decision: SchemaDecision, downgrade: Sequence[str] = ()) -> list[str]:
    """The dry-run's schema steps; ``downgrade`` is the commands ``--migrate`` would run."""
    facts = decision.facts
    now, then = facts.database or "no revision", facts.expected or "not recorded"
    lines = [f"schema: the database is at {now}; {facts.older} ran on {then}"]
    if decision.action == "proceed":
        lines[0] += " (same: nothing to migrate)"
    elif decision.action == "migrate":
        shown = "; ".join(f"`{c}`" for c in downgrade) or f"{facts.tool} downgrade"
        lines.append(
            f"downgrade the database to {facts.expected} with {facts.newer}'s {facts.tool} "
            f"({shown}), then check it reached {facts.expected}"
        )
        if facts.rehearsal:
            lines.append(f"the path the rehearsal proved: {facts.rehearsal}")
    elif decision.action == "keep_schema":
        lines.append(f"keep the schema at {now}: {facts.older} runs on it as it is (audited)")
    else:
        lines.append("refused: " + "; ".join(decision.reasons))
        lines += [f"  {choice}" for choice in choices(facts)]
    return lines
