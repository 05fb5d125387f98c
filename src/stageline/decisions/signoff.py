"""Whether the digest running in an environment may leave it: the sign-off decision.

One pure function, :func:`sign_off`, from :class:`SignOffFacts` (gate runs, verdicts,
freezes, the time ``now``) to a :class:`SignOff`. Every hold is listed at once, each with
what would clear it. Gate runs and approvals count only for the (environment, digest)
they were given for, and only within the time-to-live. People are compared by email,
case-insensitively.

Evidence is pinned: each gate run carries the :class:`~stageline.decisions.pins.GatePin` of the
configuration it ran under, and when the facts carry the pin of the configuration now,
a run that counts under another pin holds the release, naming what changed
(:class:`ConfigChange`). Runs stored before pins existed (``pin`` None) are not judged.
The runs that count are the latest of each required gate and the newest run of all, so
deleting every gate, or re-running only one, cannot hide a change.

Facts come from the audit chain: the caller passes only gate runs and verdicts whose
chained record verifies, and names the others in ``bad_records``; each holds the release.

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
from stageline.decisions.pins import GatePin, changes
from stageline.values import GateStatus, label

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
    #: the pin of the gate configuration the run was produced under (None: before pins)
    pin: GatePin | None = None


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
    #: the source's gate configuration now; None skips the pin check
    pin: GatePin | None = None
    #: this digest's decision rows in the source the audit chain does not vouch for
    #: (left out of ``runs`` and ``verdicts`` by the caller; ``stageline.usecases.audit``)
    bad_records: tuple[str, ...] = ()


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
    #: the gate configuration changed since the evidence was produced (audited)
    config_changes: tuple[ConfigChange, ...] = ()


@dataclass(frozen=True)
class ConfigChange:
    """The gate configuration of ``environment`` differs from the one evidence ran under."""

    environment: str
    before: str
    now: str
    #: when the newest run under ``before`` finished
    verified_at: datetime
    #: one phrase per changed part: "gate `migrations` removed"
    changed: tuple[str, ...]


def sign_off(facts: SignOffFacts) -> SignOff:
    """May ``facts.digest`` leave ``facts.source`` for ``facts.target``? Every hold is listed.

    Raises ValueError when the approval rule names a group that does not exist.
    """
    gates, holds = _check_gates(facts)
    moved = _check_pins(facts)
    holds += [_pin_hold(facts, change) for change in moved]
    counted: tuple[str, ...] = ()
    if facts.rule is not None:
        counted, approval_holds = _check_approvals(facts, facts.rule)
        holds += approval_holds
    holds += _check_records(facts)
    freezes = _check_freezes(facts)
    if not facts.override_freeze:
        holds += freezes
    return SignOff(
        promote=not holds,
        holds=tuple(holds),
        approvals_counted=counted,
        approvals_required=facts.rule.required if facts.rule else 0,
        gates=gates,
        freeze_overridden=facts.override_freeze and bool(freezes),
        config_changes=tuple(moved),
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
    digest = label(facts.digest)
    for gate in dict.fromkeys(facts.required_gates):
        latest = _latest(facts, gate)
        if latest is None:
            gates[gate] = "missing"
            holds.append(Hold(f"gate {gate} has not run for {digest}", verify))
            continue
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


def _own_runs(facts: SignOffFacts) -> list[GateRun]:
    return [r for r in facts.runs if (r.environment, r.digest) == (facts.source, facts.digest)]


def _latest(facts: SignOffFacts, gate: str | None) -> GateRun | None:
    """The run that counts for ``gate`` (any gate when None): the newest, the worse on a tie."""
    runs = [r for r in _own_runs(facts) if gate is None or r.gate == gate]
    return max(runs, key=lambda r: (r.finished_at, _SEVERITY[r.status]), default=None)


def _check_pins(facts: SignOffFacts) -> list[ConfigChange]:
    """Each older pin among the counting runs (latest per required gate, and the newest run
    of all), with what changed since; empty when every one was produced under ``facts.pin``."""
    if facts.pin is None:
        return []
    counting = [_latest(facts, gate) for gate in (*facts.required_gates, None)]
    found: dict[str, ConfigChange] = {}
    for run in counting:
        if run is None or run.pin is None or run.pin.digest == facts.pin.digest:
            continue
        seen = found.get(run.pin.digest)
        if seen is None or seen.verified_at < run.finished_at:
            found[run.pin.digest] = ConfigChange(
                facts.source,
                run.pin.digest,
                facts.pin.digest,
                run.finished_at,
                changes(run.pin.parts, facts.pin.parts),
            )
    return sorted(found.values(), key=lambda change: change.verified_at)


def _pin_hold(facts: SignOffFacts, change: ConfigChange) -> Hold:
    changed = ", ".join(change.changed) or "the gate configuration changed"
    return Hold(
        f"{changed} since verify at {change.verified_at:%Y-%m-%d %H:%M} UTC in {facts.source}: "
        f"the evidence for {label(facts.digest)} was produced under other gates",
        f"run `stageline verify {facts.source}` again under the gates as they are now, "
        "or restore the pipeline file",
    )


def _check_approvals(facts: SignOffFacts, rule: ApprovalRule) -> tuple[tuple[str, ...], list[Hold]]:
    source, digest = facts.source, label(facts.digest)
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


def _check_records(facts: SignOffFacts) -> list[Hold]:
    """A hold for each bad decision record: a forged row is ignored, and a removed or
    altered one may have hidden a failure or a rejection, so the release waits."""
    return [
        Hold(
            f"the audit chain does not vouch for a record of {facts.source}: {problem}",
            "restore the state store from a backup (`stageline audit verify` names every"
            " bad record), or re-run the gates and re-approve",
        )
        for problem in facts.bad_records
    ]


def _check_freezes(facts: SignOffFacts) -> list[Hold]:
    return frozen(facts.target, facts.freezes, facts.now)


def frozen(target: str, freezes: Iterable[Freeze], now: datetime) -> list[Hold]:
    """A hold for each of ``target``'s freeze windows in force at ``now``."""
    return [
        Hold(
            f"{target} is frozen until {freeze.end.isoformat()}: {freeze.reason}",
            f"wait until {freeze.end.isoformat()}, or use --override-freeze (audited)",
        )
        for freeze in freezes
        if freeze.start <= now < freeze.end
    ]


def _person(email: str) -> str:
    return email.strip().lower()


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}m"
    return f"{hours}h" if not minutes else f"{hours}h{minutes:02d}m"
