"""Enforcing ``stageline.decisions.access`` at the entry of the use cases; refusals are audited.

``require(session, action, environment)`` is the one call the use cases make before they
act (deploy, promote, rollback, a freeze override, a break-glass ``--force``). It reads
the environment's rules from the pipeline file, decides with the pure ``access.check``,
and on a refusal appends an ``access.refused`` event naming the rule before it raises
``AccessRefused`` (exit 1).

Privileged actions (:func:`privileged`: entering a production-tier environment by deploy
or promotion, a one-off ``run`` there (on a copy or ``--live``), a freeze override,
break-glass) also need proof of who acts
(``identity.prove``: a signature, a personal token, or single-person mode); the proof is
appended as an ``access.proven`` event (its signature a plain, chained field) when it
is a signature or a token.
:func:`mint_token` holds minting a personal token to the same proof: yours, or, for
someone else, an ``[access] admins`` member's SSH signature.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from stageline.config.model import Environment, Pipeline, Tier
from stageline.decisions.access import AccessRefused, Action, Rules, check
from stageline.errors import Refused
from stageline.identity import Credentials, current_actor, current_credentials, prove
from stageline.signing import Statement, now_text
from stageline.state.secrets import TokenRecord
from stageline.usecases.tokens import create_token

if TYPE_CHECKING:
    from stageline.usecases.pipeline import Session


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
    credentials: Credentials | None = None,
) -> str:
    """The acting person, if the rules of ``environment`` let them do ``action`` (and, for a
    :func:`privileged` one, they proved who they are: ``credentials``, default the CLI's;
    a ``person`` given without credentials is one the caller already authenticated).

    Otherwise the refusal is appended to the audit log and ``AccessRefused`` (or
    ``identity.Unproven``) raised.
    """
    pipe = pipe or session.pipeline()
    env = pipe.environment(environment)
    who = person or current_actor()
    if privileged(action, env):  # ``person``: someone the caller already authenticated
        vouched = Credentials(vouched=person) if person and credentials is None else None
        who = _proven(session, pipe, action, env, who, digest, credentials or vouched)
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


def privileged(action: Action, env: Environment) -> bool:
    """Whether ``action`` in ``env`` needs proof of who acts, not only their name: a
    one-off ``run`` in production holds its secrets (and, ``run_live``, its live data), as
    an entry does."""
    if action in ("force", "override_freeze"):
        return True
    return action in ("deploy", "promote", "run", "run_live") and env.tier == Tier.production


def _proven(
    session: Session,
    pipe: Pipeline,
    action: Action,
    env: Environment,
    who: str,
    digest: str | None,
    credentials: Credentials | None,
) -> str:
    statement = Statement(action, env.name, digest or "", who, now_text())
    try:
        proof = prove(session.store, pipe, statement, credentials or current_credentials())
    except Refused as exc:
        session.store.append_event(
            "access.refused",
            actor=who,
            environment=env.name,
            digest=digest,
            data={"action": action, "rule": "identity", "reason": str(exc)},
        )
        raise
    if proof.method in ("ssh", "token"):  # single-person mode proves nothing to record
        session.store.append_event(
            "access.proven",
            actor=proof.person,
            environment=env.name,
            digest=digest,
            data={"action": action, **proof.fields()},
        )
    return proof.person


def mint_token(
    session: Session,
    name: str,
    *,
    person: str | None = None,
    expires_at: datetime | None = None,
    credentials: Credentials | None = None,
) -> tuple[str, TokenRecord]:
    """A new personal token for ``person`` (default: you), once you proved who you are;
    for someone else, only an admin (``[access] admins``) signing with their SSH key."""
    pipe = session.pipeline()
    claimed = current_actor()
    owner = person or claimed
    statement = Statement("token.create", "", "", claimed, now_text(), f"{name} for {owner}")
    proof = prove(session.store, pipe, statement, credentials or current_credentials())
    if proof.person.strip().lower() != owner.strip().lower():
        admins = {a.strip().lower() for a in pipe.access.admins}
        if proof.method != "ssh" or proof.person.strip().lower() not in admins:
            raise Refused(
                f"{proof.person} may not mint a token for {owner}",
                hint=f"{owner} makes their own, or an [access] admins member signs with"
                " --sign-with",
            )
    if proof.method in ("ssh", "token"):
        session.store.append_event(
            "access.proven", actor=proof.person, data={"action": "token.create", **proof.fields()}
        )
    return create_token(session.store, name, owner, expires_at=expires_at)
