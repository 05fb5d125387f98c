"""DORA figures from the state store's deployments, over a period. Pure.

- **deployment frequency**: succeeded deployments per environment in the period (count,
  per day, per week);
- **lead time**: for each artifact whose first successful deployment to production
  falls in the period, from its tagged commit's time to that deployment's end;
- **change failure rate**: of the production changes in the period (deploy, promote or
  force; rollbacks are not changes), the share that failed, or that went live and were
  then undone by a rollback (or marked ``rolled_back``);
- **time to restore**: for each change that went live and was rolled back, from its
  end to the end of the rollback; for one the agent's watch window switched back
  (``rolled_back``, whose ``finished_at`` is the switch back), from its start to then.
  A failed deploy counts as a failure but restores nothing: the previous release kept
  serving.

Times are the deployments' ``finished_at`` (``started_at`` while unfinished).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from stageline.state import ArtifactRecord, DeploymentRecord

CHANGE_KINDS = ("deploy", "promote", "force")


@dataclass(frozen=True)
class Frequency:
    environment: str
    deployments: int
    per_day: float
    per_week: float


@dataclass(frozen=True)
class Durations:
    """Seconds; empty when there is nothing to measure."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None

    @property
    def worst(self) -> float | None:
        return max(self.samples) if self.samples else None

    def to_json(self) -> dict[str, object]:
        return {
            "count": len(self.samples),
            "median_seconds": self.median,
            "mean_seconds": self.mean,
            "max_seconds": self.worst,
        }


@dataclass(frozen=True)
class Metrics:
    since: datetime
    until: datetime
    production: str | None
    frequency: tuple[Frequency, ...]
    lead_time: Durations
    changes: int
    failures: int
    time_to_restore: Durations

    @property
    def change_failure_rate(self) -> float | None:
        return self.failures / self.changes if self.changes else None

    def to_json(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "production": self.production,
            "deployment_frequency": [vars(f) for f in self.frequency],
            "lead_time": self.lead_time.to_json(),
            "changes": self.changes,
            "failures": self.failures,
            "change_failure_rate": self.change_failure_rate,
            "time_to_restore": self.time_to_restore.to_json(),
        }


def _when(d: DeploymentRecord) -> datetime:
    return d.finished_at or d.started_at


def metrics(
    deployments: Sequence[DeploymentRecord],
    artifacts: Mapping[str, ArtifactRecord],
    *,
    environments: Sequence[str],
    production: str | None,
    since: datetime,
    until: datetime,
) -> Metrics:
    """The DORA figures for ``[since, until)``; ``production`` names the production env."""
    ordered = sorted(deployments, key=lambda d: d.id)
    days = max((until - since).total_seconds() / 86400, 1e-9)
    in_period = [d for d in ordered if since <= _when(d) < until]
    frequency = []
    for env in environments:
        count = sum(1 for d in in_period if d.environment == env and d.status != "failed"
                    and d.status != "in_progress")  # fmt: skip
        frequency.append(Frequency(env, count, count / days, count * 7 / days))
    prod = [d for d in ordered if d.environment == production and d.status != "in_progress"]
    return Metrics(
        since,
        until,
        production,
        tuple(frequency),
        _lead_time(prod, artifacts, since, until),
        *_failures(prod, since, until),
    )


def _lead_time(
    prod: Sequence[DeploymentRecord],
    artifacts: Mapping[str, ArtifactRecord],
    since: datetime,
    until: datetime,
) -> Durations:
    first: dict[str, DeploymentRecord] = {}
    for d in prod:
        if d.status in ("succeeded", "rolled_back") and d.digest not in first:
            first[d.digest] = d
    samples = []
    for digest, d in first.items():
        artifact = artifacts.get(digest)
        if artifact is not None and since <= _when(d) < until:
            samples.append((_when(d) - artifact.commit_time).total_seconds())
    return Durations(tuple(samples))


def _failures(
    prod: Sequence[DeploymentRecord], since: datetime, until: datetime
) -> tuple[int, int, Durations]:
    changes = failures = 0
    restores: list[float] = []
    for index, d in enumerate(prod):
        if d.kind not in CHANGE_KINDS or not since <= _when(d) < until:
            continue
        changes += 1
        if d.status == "failed":
            failures += 1
            continue
        live = ("succeeded", "rolled_back")
        following = next((n for n in prod[index + 1 :] if n.status in live), None)
        if following is not None and following.kind == "rollback":  # undone by a person
            failures += 1
            restores.append((_when(following) - _when(d)).total_seconds())
        elif d.status == "rolled_back":  # switched back by the agent's watch window
            failures += 1
            restores.append((_when(d) - d.started_at).total_seconds())
    return changes, failures, Durations(tuple(restores))
