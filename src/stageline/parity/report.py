"""The parity use cases: probe two environments, compare, and add the gaps; metrics.

Thin glue over ``probe`` (I/O), ``compare`` / ``gap`` / ``metrics`` (pure), for the CLI,
the ``parity`` gate, ``stageline status`` and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from stageline.config.model import Pipeline
from stageline.errors import UsageError
from stageline.parity.compare import Report, compare_probed
from stageline.parity.facts import NotDeployed
from stageline.parity.gap import (
    People,
    TimeGap,
    commits_between,
    personnel,
    personnel_gap,
    time_gap,
)
from stageline.parity.metrics import Metrics, metrics
from stageline.parity.probe import probe
from stageline.usecases.pipeline import Session

_ALL = 1_000_000


@dataclass(frozen=True)
class ParityView:
    a: str
    b: str
    #: None when one side runs nothing (``missing`` names it)
    report: Report | None
    missing: str | None
    gap: TimeGap
    people: tuple[People, People]
    personnel_notes: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "comparison": self.report.to_json() if self.report else None,
            "not_deployed": self.missing,
            "time_gap": self.gap.to_json(),
            "people": [p.to_json() for p in self.people],
            "personnel_gap": list(self.personnel_notes),
        }


def default_pair(pipe: Pipeline) -> tuple[str, str]:
    """The environment before production, and production (else the last two)."""
    names = pipe.names
    if len(names) < 2:
        raise UsageError("parity compares two environments; the pipeline declares one")
    source, production = pipe.signoff_pair()
    if source is None or production is None:
        return names[-2], names[-1]
    return source.name, production.name


def compare_environments(session: Session, a: str, b: str) -> Report:
    """Probe both and compare, with both environments' allow-lists."""
    return compare_probed(session.pipeline(), a, b, lambda name: probe(session, name))


def gap_between(session: Session, ahead: str, behind: str, now: datetime | None = None) -> TimeGap:
    store = session.store
    deployments = store.deployments(limit=_ALL)
    artifacts = {a.digest: a for a in store.list_artifacts()}
    gap = time_gap(ahead, behind, deployments, artifacts, now or datetime.now(UTC))
    current_a, current_b = store.current_deployment(ahead), store.current_deployment(behind)
    if gap.waiting and current_a and current_b:
        old, new = artifacts.get(current_b.digest), artifacts.get(current_a.digest)
        if old and new:
            commits = commits_between(session.workspace.root, old.commit, new.commit)
            gap = time_gap(ahead, behind, deployments, artifacts, now or datetime.now(UTC), commits)
    return gap


def people_of(session: Session) -> list[People]:
    return personnel(session.pipeline(), session.store.deployments(limit=_ALL))


def parity_view(session: Session, a: str | None = None, b: str | None = None) -> ParityView:
    """``stageline parity``: the comparison (if both run), the time and personnel gaps."""
    pipe = session.pipeline()
    if (a is None) != (b is None):
        raise UsageError("give two environments, or none (the one before production, and it)")
    a, b = (a, b) if a is not None and b is not None else default_pair(pipe)
    a, b = pipe.environment(a).name, pipe.environment(b).name
    try:
        report, missing = compare_environments(session, a, b), None
    except NotDeployed as exc:
        report, missing = None, exc.environment
    everyone = {p.environment: p for p in people_of(session)}
    pa, pb = everyone[a], everyone[b]
    return ParityView(
        a, b, report, missing, gap_between(session, a, b), (pa, pb), tuple(personnel_gap(pa, pb))
    )


def metrics_for(
    session: Session, *, since: datetime | None = None, days: int = 30, now: datetime | None = None
) -> Metrics:
    """DORA figures over ``[since, now)`` (default: the last ``days`` days)."""
    until = now or datetime.now(UTC)
    start = since or until - timedelta(days=days)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if start >= until:
        raise UsageError(f"--since {start.isoformat()} is not before now")
    pipe = session.pipeline()
    production = pipe.production.name if pipe.production else None
    return metrics(
        session.store.deployments(limit=_ALL),
        {a.digest: a for a in session.store.list_artifacts()},
        environments=pipe.names,
        production=production,
        since=start,
        until=until,
    )
