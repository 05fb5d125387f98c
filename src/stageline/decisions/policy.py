"""Whether an artifact may enter an environment: a pure function from facts to a decision.

Three rules of the environment itself, each a small check that returns holds (a reason
and what clears it): :func:`tag_holds` (which tags it accepts; never overridden),
:func:`commit_holds` (a build of a branch head or commit, made for review environments,
never enters the pipeline's environments; never overridden) and :func:`order_holds` (a
digest reaches it from the environment before; ``--force`` overrides it as break-glass).
:func:`decide` composes them. The sign-off of the gated environments before the target
is composed with these in ``stageline.usecases.entry``, the one decision every way into
an environment calls. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from stageline.config.model import Environment
from stageline.decisions.signoff import Hold
from stageline.values import label


@dataclass(frozen=True)
class EntryFacts:
    target: Environment
    digest: str
    tag: str | None
    #: the environment before ``target`` in the pipeline, or None when target is the first
    previous: str | None
    #: whether ``digest`` has a succeeded deployment in ``previous``
    proven_in_previous: bool
    #: the operator asked for a break-glass deploy (``--force``)
    force: bool = False
    #: a commit build (``review open``): the branch it was built from (its manifest's)
    branch: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    #: allowed only because of ``--force``: recorded in the audit log as break-glass
    break_glass: bool = False

    def summary(self) -> str:
        return "; ".join(self.reasons)


def tag_accepted(env: Environment, tag: str | None) -> bool:
    if tag is None:
        return "*" in env.accept
    return any(fnmatchcase(tag, pattern) for pattern in env.accept)


def decide(facts: EntryFacts) -> Decision:
    """May ``facts.digest`` enter ``facts.target``? Every reason against is listed."""
    order = order_holds(facts)
    holds = tag_holds(facts) + commit_holds(facts) + ([] if facts.force else order)
    if holds:
        return Decision(False, [hold.reason for hold in holds])
    return Decision(True, [], break_glass=bool(order))


def tag_holds(facts: EntryFacts) -> list[Hold]:
    """The target accepts only tags matching its globs; nothing overrides this."""
    env = facts.target
    if tag_accepted(env, facts.tag):
        return []
    shown = facts.tag or "an untagged build"
    return [
        Hold(
            f"{env.name} accepts tags {', '.join(env.accept)}; {shown} does not match",
            f"build a tag that matches {', '.join(env.accept)}",
        )
    ]


def commit_holds(facts: EntryFacts) -> list[Hold]:
    """A build of a branch head or commit enters only review environments (``review
    open``); only a tag the environment accepts enters the pipeline. Nothing overrides it."""
    if facts.branch is None:
        return []
    return [
        Hold(
            f"{label(facts.digest)} was built from {facts.branch} (a commit, not a tag): it "
            f"may enter only review environments, never {facts.target.name}",
            f"tag the commit with a tag {facts.target.name} accepts "
            f"({', '.join(facts.target.accept)}) and deploy that tag",
        )
    ]


def order_holds(facts: EntryFacts) -> list[Hold]:
    """A digest enters at the first environment and moves on by promotion."""
    if facts.previous is None or facts.proven_in_previous:
        return []
    env = facts.target
    return [
        Hold(
            f"{label(facts.digest)} has not run in {facts.previous}: new artifacts enter at "
            f"the first environment and reach {env.name} by promotion "
            "(--force is a break-glass deploy)",
            f"promote it from {facts.previous}, or deploy with --force (break-glass, audited)",
        )
    ]
