"""Whether an artifact may enter an environment: a pure function from facts to a decision.

Deploy and promote gather :class:`EntryFacts` and call :func:`decide`; nothing here does
I/O. The sign-off rules (gates, approvals) will be more checks of the same shape, each
adding reasons, so a held release always says every reason at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from stageline.config.model import Environment


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
    env = facts.target
    reasons: list[str] = []
    if not tag_accepted(env, facts.tag):
        shown = facts.tag or "an untagged build"
        reasons.append(f"{env.name} accepts tags {', '.join(env.accept)}; {shown} does not match")
    entry_rule_broken = facts.previous is not None and not facts.proven_in_previous
    if entry_rule_broken and not facts.force:
        reasons.append(
            f"{facts.digest[:19]} has not run in {facts.previous}: new artifacts enter at the "
            f"first environment and reach {env.name} by promotion (--force is a break-glass deploy)"
        )
    if reasons:
        return Decision(False, reasons)
    return Decision(True, [], break_glass=entry_rule_broken and facts.force)
