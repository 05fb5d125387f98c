"""The time gap and the personnel gap between environments, from the state store.

Time gap: how far an environment (staging) is ahead of the next (production): the
releases that ran there and never ran in the next one, the commits between the two
running releases, and how long the oldest of those releases has been waiting.

Personnel gap: who may deploy to and approve each environment, and who actually did.
stageline has no deploy permission rule yet, so "may deploy" is anyone who can run
stageline on the pipeline; who approves comes from the approval gate (groups expanded).

``time_gap`` and ``personnel`` are pure; ``commits_between`` asks git.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from stageline.config.model import Environment, Pipeline
from stageline.decisions.access import members
from stageline.state import ArtifactRecord, DeploymentRecord
from stageline.usecases.permissions import rules_of
from stageline.values import duration


@dataclass(frozen=True)
class Waiting:
    """A release that ran in the environment ahead and never in the one behind."""

    version: str
    digest: str
    arrived: datetime  # its first successful deployment in the environment ahead


@dataclass(frozen=True)
class TimeGap:
    ahead: str
    behind: str
    waiting: tuple[Waiting, ...]  # oldest first
    commits: int | None  # between the two running releases (None: unknown)
    oldest_age_seconds: float | None

    def summary(self) -> str:
        if not self.waiting:
            return f"{self.ahead} is not ahead of {self.behind}: nothing waits"
        commits = f", {self.commits} commit(s)" if self.commits is not None else ""
        age = duration(self.oldest_age_seconds or 0)
        return (
            f"{self.ahead} is {len(self.waiting)} version(s){commits} ahead of {self.behind}; "
            f"the oldest waiting ({self.waiting[0].version}) arrived {age} ago"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "ahead": self.ahead,
            "behind": self.behind,
            "versions": [{**vars(w), "arrived": w.arrived.isoformat()} for w in self.waiting],
            "commits": self.commits,
            "oldest_age_seconds": self.oldest_age_seconds,
        }


def time_gap(
    ahead: str,
    behind: str,
    deployments: Sequence[DeploymentRecord],
    artifacts: Mapping[str, ArtifactRecord],
    now: datetime,
    commits: int | None = None,
) -> TimeGap:
    """Releases that succeeded in ``ahead``, never in ``behind``, and are newer than what
    ``behind`` runs (by commit time, then build time)."""
    done = sorted((d for d in deployments if d.status == "succeeded"), key=lambda d: d.id)
    in_behind = [d for d in done if d.environment == behind]
    ever_behind = {d.digest for d in in_behind}
    current = artifacts.get(in_behind[-1].digest) if in_behind else None
    arrived: dict[str, datetime] = {}
    for d in done:
        if d.environment == ahead and d.digest not in arrived:
            arrived[d.digest] = d.finished_at or d.started_at
    waiting = []
    for digest, when in arrived.items():
        record = artifacts.get(digest)
        if digest in ever_behind or record is None:
            continue
        if current is not None and _order(record) <= _order(current):
            continue
        waiting.append(Waiting(record.version, digest, when))
    waiting.sort(key=lambda w: w.arrived)
    age = (now - waiting[0].arrived).total_seconds() if waiting else None
    return TimeGap(ahead, behind, tuple(waiting), commits if waiting else 0, age)


def _order(record: ArtifactRecord) -> tuple[datetime, datetime]:
    return record.commit_time, record.built_at


def commits_between(repo: Path, old: str, new: str) -> int | None:
    """``git rev-list --count old..new``; None when git cannot tell."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", f"{old}..{new}"],
        capture_output=True,
        text=True,
    )
    return int(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


@dataclass(frozen=True)
class People:
    """Who may deploy to and approve one environment, and who did deploy."""

    environment: str
    #: people who may approve (groups expanded); empty: anyone; None: no approval gate
    approvers: tuple[str, ...] | None
    required: int
    self_approval: bool
    deployed_by: tuple[str, ...]  # everyone who ran a deployment there, most active first
    #: ``[environments.X.access]`` rules, groups expanded; None: not written (anyone)
    deploy_rule: tuple[str, ...] | None = None
    promote_rule: tuple[str, ...] | None = None

    @property
    def may_deploy(self) -> str:
        def shown(rule: tuple[str, ...] | None) -> str:
            return "anyone (no rule)" if rule is None else ", ".join(rule) or "nobody"

        text = shown(self.deploy_rule)
        if self.promote_rule != self.deploy_rule:
            text += f"; promote into: {shown(self.promote_rule)}"
        return text

    @property
    def may_approve(self) -> str:
        if self.approvers is None:
            return "nobody signs off here"
        who = ", ".join(self.approvers) if self.approvers else "anyone"
        rule = "" if self.self_approval else ", not the deployer"
        return f"{self.required} of {who}{rule}"

    def to_json(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "may_deploy": self.may_deploy,
            "approvers": list(self.approvers) if self.approvers is not None else None,
            "approvals_required": self.required,
            "self_approval": self.self_approval,
            "deployed_by": list(self.deployed_by),
            "deploy_rule": list(self.deploy_rule) if self.deploy_rule is not None else None,
            "promote_rule": list(self.promote_rule) if self.promote_rule is not None else None,
        }


def personnel(pipe: Pipeline, deployments: Sequence[DeploymentRecord]) -> list[People]:
    """Each environment's people, from its approval gate and its deployment history."""
    return [_people(pipe, env, deployments) for env in pipe.environments]


def _people(pipe: Pipeline, env: Environment, deployments: Sequence[DeploymentRecord]) -> People:
    counts: dict[str, int] = {}
    for d in deployments:
        if d.environment == env.name:
            counts[d.actor] = counts.get(d.actor, 0) + 1
    deployed_by = tuple(sorted(counts, key=lambda a: (-counts[a], a)))
    rules = rules_of(env)
    promote = _expand(pipe, rules.written("promote")[1])
    deploy = _expand(pipe, rules.written("deploy")[1])  # an unwritten deploy follows promote
    gate = next((g for g in env.gates.values() if g.kind == "approval"), None)
    if gate is None:
        return People(env.name, None, 0, False, deployed_by, deploy, promote)
    options = gate.options
    raw = options.get("reviewers", [])
    reviewers = _expand(pipe, raw if isinstance(raw, list) else []) or ()
    required = options.get("required", 1)
    return People(
        env.name,
        reviewers,
        required if isinstance(required, int) else 1,
        bool(options.get("self_approval", False)),
        deployed_by,
        deploy,
        promote,
    )


def _expand(pipe: Pipeline, entries: object) -> tuple[str, ...] | None:
    """The people of a rule (groups expanded, sorted); None if the rule is not written."""
    if not isinstance(entries, list | tuple):
        return None
    return tuple(sorted(members([str(e) for e in entries], pipe.people.groups)))


def personnel_gap(a: People, b: People) -> list[str]:
    """Plain sentences for what differs in who acts on ``a`` and on ``b``: who deployed
    one and never the other, and different deploy rules. (Approval rules are shown, not
    compared: the sign-off for ``b`` happens in ``a``.)"""
    notes = []
    only_b = [p for p in b.deployed_by if p not in a.deployed_by]
    only_a = [p for p in a.deployed_by if p not in b.deployed_by]
    if only_b:
        notes.append(f"deployed {b.environment} but never {a.environment}: {', '.join(only_b)}")
    if only_a and b.deployed_by:
        notes.append(f"deployed {a.environment} but never {b.environment}: {', '.join(only_a)}")
    if a.may_deploy != b.may_deploy:
        notes.append(f"may deploy {a.environment}: {a.may_deploy}; {b.environment}: {b.may_deploy}")
    return notes
