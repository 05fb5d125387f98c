"""Who may do what in an environment: a pure decision, and the refusal that names its rule.

The rules are written per environment in the pipeline file::

    [environments.production.access]
    promote = ["group:leads"]              # who may promote INTO production
    deploy = ["ops@shop.example"]          # who may deploy a ref there, roll it back,
                                           # bring it up after `down`, or `run` in it
    override_freeze = ["group:leads"]      # who may promote during a freeze window
    force = ["ops@shop.example"]           # who may break glass: enter without sign-off,
                                           # or `run --live` in production

Entries are people (emails, compared case-insensitively), ``group:NAME`` (from
``[people.groups]``) or ``*`` (everyone). A rule that is not written lets everyone, so a
pipeline without ``access`` tables works as before; except that an unwritten ``deploy``
follows a written ``promote``, so a deploy cannot get around a promotion rule, and an
unwritten ``force`` follows a written ``override_freeze`` (both override a hold; a
break-glass entry also needs the deploy or promote rule of the environment). Who may
approve is the environment's approval gate's ``reviewers`` (see ``signoff.may_review``):
one rule system, two places to read it from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from stageline.errors import Refused

Action = Literal[
    "deploy", "promote", "rollback", "up", "run", "run_live", "override_freeze", "force"
]
ACTIONS: tuple[Action, ...] = (
    "deploy", "promote", "rollback", "up", "run", "run_live", "override_freeze", "force",
)  # fmt: skip

#: which written rule governs an action (rollback is a deploy of an older release, ``up``
#: starts the release deployed there again, ``run`` runs a command with its variables on
#: a copy of the database, ``run_live`` on the live data: see :func:`run_actions`)
RULE_OF: dict[Action, str] = {
    "deploy": "deploy",
    "promote": "promote",
    "rollback": "deploy",
    "up": "deploy",
    "run": "deploy",
    "run_live": "deploy",
    "override_freeze": "override_freeze",
    "force": "force",
}


@dataclass(frozen=True)
class Rules:
    """An environment's written rules; None means the rule is not written."""

    environment: str
    deploy: tuple[str, ...] | None = None
    promote: tuple[str, ...] | None = None
    override_freeze: tuple[str, ...] | None = None
    force: tuple[str, ...] | None = None

    def written(self, action: Action) -> tuple[str, tuple[str, ...] | None]:
        """(the rule's key, its entries) for ``action``, following deploy -> promote and
        force -> override_freeze."""
        key = RULE_OF[action]
        entries: tuple[str, ...] | None = getattr(self, key)
        if key == "deploy" and entries is None and self.promote is not None:
            return "promote", self.promote
        if key == "force" and entries is None and self.override_freeze is not None:
            return "override_freeze", self.override_freeze
        return key, entries


@dataclass(frozen=True)
class Refusal:
    """Why ``person`` may not do ``action`` in ``environment``; ``rule`` is its dotted key."""

    person: str
    action: Action
    environment: str
    rule: str
    allowed: tuple[str, ...]

    def __str__(self) -> str:
        allowed = ", ".join(self.allowed) if self.allowed else "nobody"
        return f"{self.rule} allows {allowed}; {self.person} is not in it"


def run_actions(*, live: bool, production: bool) -> tuple[Action, ...]:
    """What ``stageline run`` must be allowed, in order (pure). On a copy of the database
    (the default): ``run``. With ``--live``: ``run_live`` (the same ``deploy`` rule, but
    recorded as a write to live data) and, in a production-tier environment, ``force``
    too: release code other than the service changing production's data is break-glass,
    so it needs the deploy rule *and* the force rule, as ``deploy --force`` does."""
    if not live:
        return ("run",)
    return ("run_live", "force") if production else ("run_live",)


def _person(name: str) -> str:
    return name.strip().lower()


def members(entries: Sequence[str], groups: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """The people ``entries`` names (``*`` stays ``*``); an unknown group names nobody."""
    people: set[str] = set()
    for entry in entries:
        if entry.startswith("group:"):
            people.update(_person(m) for m in groups.get(entry.removeprefix("group:"), ()))
        else:
            people.add(_person(entry))
    return frozenset(people)


def check(
    person: str, action: Action, rules: Rules, groups: Mapping[str, Sequence[str]]
) -> Refusal | None:
    """None if ``person`` may do ``action`` under ``rules``, else the refusal (pure)."""
    key, entries = rules.written(action)
    if entries is None:
        return None
    allowed = members(entries, groups)
    if "*" in allowed or _person(person) in allowed:
        return None
    return Refusal(
        _person(person), action, rules.environment, f"{rules.environment}.access.{key}", entries
    )


class AccessRefused(Refused):
    """An access rule said no; carries the :class:`Refusal`."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(
            str(refusal),
            hint=f"ask someone it allows, or change [environments.{refusal.environment}.access]"
            " in the pipeline file",
        )
