"""Whether the digest running in an environment may leave it: the sign-off decision.

One pure function, :func:`sign_off`, from :class:`SignOffFacts` (gate runs, verdicts,
freezes, the time ``now``) to a :class:`SignOff`. Every hold is listed at once, each with
what would clear it. Gate runs and approvals count only for the (environment, digest)
they were given for, and only within the time-to-live. People are compared by email,
case-insensitively.

A rejection stands until it is withdrawn: it does not expire with the TTL, and a later
approval by the same person does not lift it. Self-approval rules limit who may
*approve*; anyone on the reviewer list may reject, including whoever deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from stageline.config.model import Freeze

GateStatus = Literal["passed", "failed", "error"]
#: at equal finish times the worse result is the latest
_SEVERITY = {"passed": 0, "error": 1, "failed": 2}


@dataclass(frozen=True)
class GateRun:
    """A stored result of one gate."""

    gate: str
    environment: str
    digest: str
    status: GateStatus
    finished_at: datetime
    summary: str


@dataclass(frozen=True)
class Verdict:
    """An approval or rejection by a person."""

    person: str
    environment: str
    digest: str
    kind: Literal["approve", "reject"]
    at: datetime
    note: str = ""
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class ApprovalRule:
    required: int
    #: emails or ``group:NAME``; empty means anyone
    reviewers: tuple[str, ...] = ()
    self_approval: bool = False


@dataclass(frozen=True)
class SignOffFacts:
    now: datetime
    #: the environment the release leaves (its gates and approvals count)
    source: str
    target: str
    #: the digest running in ``source``, the one to promote
    digest: str
    #: who deployed or promoted this digest into ``source``
    deployed_by: frozenset[str]
    #: the source's gates that must pass (approval gates excluded)
    required_gates: tuple[str, ...]
    #: any stored runs: other digests, environments and stale ones are ignored here
    runs: tuple[GateRun, ...]
    #: the source's approval gate, if any
    rule: ApprovalRule | None
    #: any verdicts: other digests and environments are ignored here
    verdicts: tuple[Verdict, ...]
    groups: Mapping[str, Sequence[str]]
    ttl: timedelta
    #: the TARGET's freeze windows
    freezes: tuple[Freeze, ...]
    override_freeze: bool = False


@dataclass(frozen=True)
class Hold:
    """One reason the release is held, with what would clear it."""

    reason: str
    clear: str


@dataclass(frozen=True)
class SignOff:
    promote: bool
    holds: tuple[Hold, ...]
    #: people whose approval counted (lower-cased emails, sorted)
    approvals_counted: tuple[str, ...]
    approvals_required: int
    #: gate -> "passed" | "failed" | "error" | "missing" | "stale", for display
    gates: dict[str, str]
    #: a freeze was in force and the operator overrode it (audited)
    freeze_overridden: bool


def sign_off(facts: SignOffFacts) -> SignOff:
    """May ``facts.digest`` leave ``facts.source`` for ``facts.target``? Every hold is listed.

    Raises ValueError when the approval rule names a group that does not exist.
    """
    gates, holds = _check_gates(facts)
    counted: tuple[str, ...] = ()
    if facts.rule is not None:
        counted, approval_holds = _check_approvals(facts, facts.rule)
        holds += approval_holds
    frozen = _check_freezes(facts)
    if not facts.override_freeze:
        holds += frozen
    return SignOff(
        promote=not holds,
        holds=tuple(holds),
        approvals_counted=counted,
        approvals_required=facts.rule.required if facts.rule else 0,
        gates=gates,
        freeze_overridden=facts.override_freeze and bool(frozen),
    )


def expand(reviewers: Iterable[str], groups: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """The people (lower-cased emails) that ``reviewers`` names; unknown group -> ValueError."""
    people: set[str] = set()
    for entry in reviewers:
        if entry.startswith("group:"):
            name = entry.removeprefix("group:")
            if name not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise ValueError(f"unknown people group {name!r} (groups: {known})")
            people.update(_person(member) for member in groups[name])
        else:
            people.add(_person(entry))
    return frozenset(people)


def may_review(
    person: str,
    rule: ApprovalRule,
    groups: Mapping[str, Sequence[str]],
    deployed_by: Iterable[str],
    environment: str | None = None,
) -> str | None:
    """None if ``person`` may approve under ``rule``, else why not."""
    who = _person(person)
    if not rule.self_approval and who in {_person(p) for p in deployed_by}:
        return f"{who} deployed this release; self-approval is off here"
    if rule.reviewers and who not in expand(rule.reviewers, groups):
        where = f"for {environment}" if environment else "here"
        return f"{who} is not a reviewer {where} (reviewers: {', '.join(rule.reviewers)})"
    return None


def _check_gates(facts: SignOffFacts) -> tuple[dict[str, str], list[Hold]]:
    gates: dict[str, str] = {}
    holds: list[Hold] = []
    verify = f"run `stageline verify {facts.source}`"
    digest = _short(facts.digest)
    for gate in dict.fromkeys(facts.required_gates):
        runs = [
            run
            for run in facts.runs
            if (run.gate, run.environment, run.digest) == (gate, facts.source, facts.digest)
        ]
        if not runs:
            gates[gate] = "missing"
            holds.append(Hold(f"gate {gate} has not run for {digest}", verify))
            continue
        latest = max(runs, key=lambda run: (run.finished_at, _SEVERITY[run.status]))
        age = facts.now - latest.finished_at
        if latest.status == "failed":
            gates[gate] = "failed"
            holds.append(
                Hold(
                    f"gate {gate} failed for {digest}: {latest.summary}",
                    f"deploy a fixed digest, or {verify} again if the failure was flaky",
                )
            )
        elif latest.status == "error":
            gates[gate] = "error"
            holds.append(
                Hold(f"gate {gate} could not run for {digest}: {latest.summary}", f"{verify} again")
            )
        elif age > facts.ttl:
            gates[gate] = "stale"
            holds.append(
                Hold(
                    f"gate {gate} passed {_span(age)} ago for {digest}; "
                    f"results count for {_span(facts.ttl)}",
                    f"{verify} again",
                )
            )
        else:
            gates[gate] = "passed"
    return gates, holds


def _check_approvals(facts: SignOffFacts, rule: ApprovalRule) -> tuple[tuple[str, ...], list[Hold]]:
    source, digest = facts.source, _short(facts.digest)
    active = [
        v
        for v in facts.verdicts
        if (v.environment, v.digest) == (source, facts.digest) and v.withdrawn_at is None
    ]
    holds: list[Hold] = []
    rejectors: set[str] = set()
    for v in sorted((v for v in active if v.kind == "reject"), key=lambda v: v.at):
        who = _person(v.person)
        # self-approval limits approving only: whoever deployed may still stop a release
        if who in rejectors or may_review(who, rule, facts.groups, ()) is not None:
            continue
        rejectors.add(who)
        note = f": {v.note}" if v.note else ""
        holds.append(
            Hold(
                f"{who} rejected {digest} in {source}{note}",
                f"a new digest, or `stageline reject {source} --withdraw` by {who}",
            )
        )
    counted: set[str] = set()
    refused: dict[str, str] = {}
    for v in active:
        who = _person(v.person)
        if v.kind != "approve" or who in rejectors or facts.now - v.at > facts.ttl:
            continue
        why = may_review(who, rule, facts.groups, facts.deployed_by, source)
        if why is None:
            counted.add(who)
        else:
            refused[who] = why
    names = tuple(sorted(counted))
    if len(names) < rule.required:
        shown = f" ({', '.join(names)})" if names else ""
        ignored = "".join(f"; not counted: {refused[who]}" for who in sorted(refused))
        holds.append(
            Hold(
                f"{len(names)} of {rule.required} approvals for {digest}{shown}{ignored}",
                f"`stageline approve {source}` by: {_who_else(facts, rule, counted | rejectors)}",
            )
        )
    return names, holds


def _who_else(facts: SignOffFacts, rule: ApprovalRule, done: set[str]) -> str:
    barred = set() if rule.self_approval else {_person(p) for p in facts.deployed_by}
    if not rule.reviewers:
        others = barred - done
        return f"anyone but {', '.join(sorted(others))}" if others else "anyone"
    left = sorted(expand(rule.reviewers, facts.groups) - barred - done)
    if not left:
        return f"nobody left who may approve (reviewers: {', '.join(rule.reviewers)})"
    return ", ".join(left)


def _check_freezes(facts: SignOffFacts) -> list[Hold]:
    return [
        Hold(
            f"{facts.target} is frozen until {freeze.end.isoformat()}: {freeze.reason}",
            f"wait until {freeze.end.isoformat()}, or promote with --override-freeze (audited)",
        )
        for freeze in facts.freezes
        if freeze.start <= facts.now < freeze.end
    ]


def _person(email: str) -> str:
    return email.strip().lower()


def _short(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits, as elsewhere in stageline."""
    return digest[:19] if digest.startswith("sha256:") else digest[:12]


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}m"
    return f"{hours}h" if not minutes else f"{hours}h{minutes:02d}m"
