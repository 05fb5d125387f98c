"""Enforcing ``stageline.access`` at the entry of the use cases; refusals are audited.

``require(session, action, environment)`` is the one call the use cases make before they
act (deploy, promote, rollback, a freeze override, a break-glass ``--force``). It reads
the environment's rules from the pipeline file, decides with the pure ``access.check``,
and on a refusal appends an ``access.refused`` event naming the rule before it raises
``AccessRefused`` (exit 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stageline.access import AccessRefused, Action, Rules, check
from stageline.config.model import Environment, Pipeline
from stageline.identity import current_actor

if TYPE_CHECKING:
    from stageline.pipeline import Session


def rules_of(env: Environment) -> Rules:
    access = env.access
    return Rules(
        env.name,
        deploy=tuple(access.deploy) if access.deploy is not None else None,
        promote=tuple(access.promote) if access.promote is not None else None,
        override_freeze=(
            tuple(access.override_freeze) if access.override_freeze is not None else None
        ),
        force=tuple(access.force) if access.force is not None else None,
    )


def require(
    session: Session,
    action: Action,
    environment: str,
    *,
    person: str | None = None,
    digest: str | None = None,
    pipe: Pipeline | None = None,
) -> str:
    """The acting person, if the rules of ``environment`` let them do ``action``.

    Otherwise the refusal is appended to the audit log and ``AccessRefused`` raised.
    """
    pipe = pipe or session.pipeline()
    env = pipe.environment(environment)
    who = person or current_actor()
    groups = {name: tuple(members) for name, members in pipe.people.groups.items()}
    refusal = check(who, action, rules_of(env), groups)
    if refusal is not None:
        session.store.append_event(
            "access.refused",
            actor=who,
            environment=env.name,
            digest=digest,
            data={"action": action, "rule": refusal.rule, "reason": str(refusal)},
        )
        raise AccessRefused(refusal)
    return who
