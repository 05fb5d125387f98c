"""The one decision for every way into an environment, and what enforcing it records.

``deploy ENV REF``, ``promote`` (to the next environment or any later one), ``ship`` (a
deploy, then promotions) and a rollback to a digest that never ran in the environment
all plan through :func:`decide_entry`. A rollback to a release that already ran in the
environment is not an entry: it went through this decision when it first came in.

The decision is the union of every hold of (see :func:`judge`, pure):

======================  ============================================  ====================
check                   holds when                                    overridden by
======================  ============================================  ====================
tags                    the target does not accept the tag            nothing
commit build            the artifact was built from a branch head     nothing
                        or commit (``review open``), not a tag
order                   the digest never ran in the environment       ``--force``
                        before the target
sign-off, per gated     that environment's sign-off of THIS digest    ``--force``
environment before      holds: gates missing, failed, stale or run
the target              under another gate configuration, approvals
                        missing, rejections
freezes                 a freeze window of the target is in force     ``--override-freeze``
======================  ============================================  ====================

A review environment (``review/<slug>``) is not in the pipeline: any build enters it
(no tag rule, no order, no sign-off); a commit build enters nothing else.

An environment before the target is *gated* when it has gates (approval gates count) or
has gate runs for the digest (so deleting every gate does not make its evidence vanish).

``--force`` is break-glass: the caller checks the ``force`` access rule, the entry is
recorded with kind ``force``, and ``deploy.break_glass`` is appended to the audit log
with every hold it overrode. A held entry raises :class:`~stageline.errors.Held` with
every reason and what clears it, after appending ``<kind>.held``. A change of a gated
environment's gate configuration since its evidence was produced is appended as
``gates.changed`` once per (environment, before, now), when first seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from stageline.config.model import Pipeline, is_review
from stageline.decisions.policy import (
    Decision,
    EntryFacts,
    commit_holds,
    order_holds,
    tag_holds,
)
from stageline.decisions.signoff import ConfigChange, Hold, SignOff, frozen, sign_off
from stageline.errors import Held
from stageline.identity import current_actor
from stageline.state import ArtifactRecord, DeploymentKind
from stageline.usecases.pipeline import Session
from stageline.usecases.verification import signoff_facts


@dataclass(frozen=True)
class Gated:
    """One gated environment before the target, and its sign-off of the digest."""

    environment: str
    signoff: SignOff


@dataclass(frozen=True)
class Entry:
    """Whether a digest may enter an environment, with every reason against."""

    target: str
    digest: str
    #: the environment a hold is reported in: the nearest gated one, else the target
    where: str
    #: what stops the entry now (after ``--force`` and ``--override-freeze``)
    holds: tuple[Hold, ...] = ()
    #: what ``--force`` overrode: a non-empty list makes an allowed entry break-glass
    overridden: tuple[Hold, ...] = ()
    gated: tuple[Gated, ...] = ()
    freeze_overridden: bool = False
    #: False for a rollback to a release that already ran in the target
    is_entry: bool = True

    @property
    def allowed(self) -> bool:
        return not self.holds

    @property
    def break_glass(self) -> bool:
        return self.allowed and bool(self.overridden)

    @property
    def config_changes(self) -> tuple[ConfigChange, ...]:
        return tuple(change for g in self.gated for change in g.signoff.config_changes)

    def decision(self) -> Decision:
        """The same outcome in the shape plans print."""
        return Decision(self.allowed, [h.reason for h in self.holds], self.break_glass)

    def held(self, version: str) -> Held:
        return Held(self.where, version, [(h.reason, h.clear) for h in self.holds])


def judge(
    facts: EntryFacts,
    gated: Sequence[Gated],
    freezes: Sequence[Hold],
    *,
    force: bool = False,
    override_freeze: bool = False,
) -> Entry:
    """May ``facts.digest`` enter ``facts.target``? Pure; every hold is listed at once.

    ``facts.force`` is ignored: ``force`` here decides, for every overridable check.
    Sign-off holds of a gated environment other than ``where`` are prefixed with its name.
    """
    where = gated[-1].environment if gated else facts.target.name
    overridable = order_holds(facts) + [
        Hold(h.reason if g.environment == where else f"{g.environment}: {h.reason}", h.clear)
        for g in gated
        for h in g.signoff.holds
    ]
    holds = tag_holds(facts) + commit_holds(facts) + ([] if force else overridable)
    if not override_freeze:
        holds += freezes
    return Entry(
        target=facts.target.name,
        digest=facts.digest,
        where=where,
        holds=tuple(holds),
        overridden=tuple(overridable) if force else (),
        gated=tuple(gated),
        freeze_overridden=override_freeze and bool(freezes),
    )


# -- gathering the facts, enforcing the decision (I/O) ----------------------------------------


def decide_entry(
    session: Session,
    pipe: Pipeline,
    target: str,
    artifact: ArtifactRecord,
    *,
    kind: DeploymentKind,
    force: bool = False,
    override_freeze: bool = False,
    now: datetime | None = None,
) -> Entry:
    """Gather the facts of ``artifact`` entering ``target`` and judge them.

    Appends ``gates.changed`` for each gate configuration change first seen here.
    """
    env = pipe.environment(target)
    target, digest = env.name, artifact.digest
    if kind == "rollback" and ran_in(session, env.name, digest):
        return Entry(env.name, digest, env.name, is_entry=False)
    if is_review(env.name):
        return Entry(env.name, digest, env.name)
    now = now or datetime.now(UTC)
    earlier = pipe.earlier(env.name)
    previous = earlier[-1].name if earlier else None
    facts = EntryFacts(
        env,
        digest,
        artifact.tag,
        previous,
        previous is not None and ran_in(session, previous, digest),
        branch=built_from_commit(session, digest),
    )
    gated = [
        Gated(
            before.name, sign_off(signoff_facts(session, pipe, before, digest, env.name, now=now))
        )
        for before in earlier
        if before.gates or session.store.gate_runs(before.name, digest, limit=1)
    ]
    entry = judge(
        facts,
        gated,
        frozen(env.name, env.freeze, now),
        force=force,
        override_freeze=override_freeze,
    )
    record_config_changes(session, entry)
    return entry


def built_from_commit(session: Session, digest: str) -> str | None:
    """The branch a commit build was made from (its manifest's), None for a tag's build."""
    if not session.artifacts.has(digest):
        return None
    return session.artifacts.load(digest)[1].source.branch


def ran_in(session: Session, environment: str, digest: str) -> bool:
    """Whether ``digest`` has a succeeded deployment in ``environment``."""
    return bool(session.store.deployments(environment, 1, digest=digest, status="succeeded"))


def record_config_changes(session: Session, entry: Entry) -> None:
    """Append ``gates.changed`` for each change not yet in the audit log."""
    for change in entry.config_changes:
        seen = session.store.events(change.environment, limit=500)
        if any(
            e.kind == "gates.changed"
            and (e.data.get("before"), e.data.get("now")) == (change.before, change.now)
            for e in seen
        ):
            continue
        session.store.append_event(
            "gates.changed",
            actor=current_actor(),
            environment=change.environment,
            digest=entry.digest,
            data={
                "before": change.before,
                "now": change.now,
                "changed": list(change.changed),
                "verified_at": change.verified_at.isoformat(),
                "noticed_entering": entry.target,
            },
        )


def enforce(session: Session, entry: Entry, *, kind: DeploymentKind, version: str) -> None:
    """Raise :class:`Held` (after appending ``<kind>.held``) unless ``entry`` is allowed;
    append ``freeze.override`` when a freeze window was overridden."""
    actor = current_actor()
    if not entry.allowed:
        session.store.append_event(
            f"{kind}.held",
            actor=actor,
            environment=entry.target,
            digest=entry.digest,
            data={
                "holds": [h.reason for h in entry.holds],
                "gated": [g.environment for g in entry.gated],
            },
        )
        raise entry.held(version)
    if entry.freeze_overridden:
        session.store.append_event(
            "freeze.override", actor=actor, environment=entry.target, digest=entry.digest
        )


def break_glass_data(entry: Entry, deployment: int) -> dict[str, object]:
    """What ``deploy.break_glass`` records: the deployment and every hold it overrode."""
    return {
        "deployment": deployment,
        "overrode": [h.reason for h in entry.overridden],
        "gated": [g.environment for g in entry.gated],
    }
