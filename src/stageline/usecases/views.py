"""The read model: what the pipeline looks like now, built once for every reader.

:func:`pipeline_view` gathers the facts (the store, the sign-off decision, what each
target reports) into frozen values; ``stageline status`` draws them with Rich, the
dashboard's pages with Jinja, and ``status --json`` and ``GET /api/pipeline`` both print
:meth:`PipelineView.to_json`, so the two are the same document. Secret values never
leave: hold reasons and notes go through ``stageline.redact`` here.

What a target reports (health, processes) is asked through one :data:`Observer` per
environment, so a caller decides how fresh it must be (the CLI asks now; the dashboard
answers from its health cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from stageline.config.model import Environment, Pipeline
from stageline.decisions.signoff import SignOff
from stageline.errors import StagelineError
from stageline.parity.gap import People, TimeGap
from stageline.parity.report import default_pair, gap_between, people_of
from stageline.redact import scrub
from stageline.state import ArtifactRecord, DeploymentRecord, VerdictRecord
from stageline.usecases.pipeline import Session, service_drift
from stageline.usecases.review_list import ReviewView, list_reviews
from stageline.usecases.verification import approval_rule, signoff_for
from stageline.values import age, short

Json = dict[str, Any]
#: the health of an environment with nothing deployed (no target is asked)
NOT_DEPLOYED = "not deployed"
#: keys whose values are relative to the clock (``5m``, seconds waiting): two readers a
#: second apart may differ there and nowhere else
CLOCK_KEYS = frozenset({"age", "oldest_age_seconds"})


@dataclass(frozen=True)
class Observed:
    """What an environment's target reports now: health (healthy | unhealthy | down |
    idle: scaled to zero, the next request starts it), restarts, and under blue/green
    the digest the proxy serves, its processes and the seconds left in the watch window."""

    health: str
    restarts: int = 0
    serving: str | None = None
    #: copies of ``web`` serving (``Environment.processes``)
    processes: int = 0
    watching_for: float = 0.0
    #: the serving release's other process types (``[service.processes]``) -> their state
    workers: dict[str, str] = field(default_factory=dict)


#: environment -> what its target reports (called only where something is deployed)
Observer = Callable[[Environment], Observed]


@dataclass(frozen=True)
class Release:
    """An artifact as the views name it: its version, tag and digest."""

    digest: str
    #: None: the store has no record of the artifact
    version: str | None
    tag: str | None

    @classmethod
    def of(cls, artifact: ArtifactRecord) -> Release:
        """A stored artifact as the views name it."""
        return cls(artifact.digest, artifact.version, artifact.tag)

    @property
    def label(self) -> str | None:
        """What the screens show: the tag it was built from, else its version."""
        return self.tag or self.version

    def to_json(self) -> Json:
        return {
            "digest": self.digest,
            "short": short(self.digest),
            "version": self.version,
            "tag": self.tag,
            "release": self.label,
        }


def release_json(release: Release | None) -> Json:
    """A release's keys as an environment or a sign-off carries them (nulls for none)."""
    if release is None:
        return {"digest": None, "short": "", "version": None, "tag": None, "release": None}
    return release.to_json()


@dataclass(frozen=True)
class BuildView:
    """The newest artifact built."""

    release: Release
    commit: str
    built_at: datetime
    built_by: str
    age: str

    def to_json(self) -> Json:
        return {
            **self.release.to_json(),
            "built_at": self.built_at.isoformat(),
            "age": self.age,
            "built_by": self.built_by,
            "commit": self.commit[:10],
        }


@dataclass(frozen=True)
class EnvironmentView:
    """One environment: what runs there, since when, put there by whom, how healthy."""

    name: str
    tier: str
    url: str
    #: the environment whose sign-off guards production (drawn as the gate)
    gate: bool
    production: bool
    release: Release | None
    health: str
    deployed_at: datetime | None
    age: str
    deployed_by: str | None
    #: entered with --force past a held sign-off (see stageline.usecases.entry)
    break_glass: bool
    observed: Observed | None
    #: what of the pipeline file's ``[service]`` differs from the running artifact's
    #: frozen one (``artifacts.section.drift``); None: nothing
    drift: str | None = None

    def to_json(self) -> Json:
        release, seen = self.release, self.observed or Observed(NOT_DEPLOYED)
        return {
            "name": self.name,
            "tier": self.tier,
            "url": self.url,
            "gate": self.gate,
            "production": self.production,
            **release_json(release),
            "health": self.health,
            "deployed_at": self.deployed_at.isoformat() if self.deployed_at else None,
            "age": self.age,
            "deployed_by": self.deployed_by,
            "break_glass": self.break_glass,
            "restarts": seen.restarts,
            "serving": seen.serving,
            "processes": seen.processes,
            "workers": dict(seen.workers),
            "watching_for": seen.watching_for,
            "drift": self.drift,
        }


@dataclass(frozen=True)
class VerdictView:
    person: str
    kind: str
    note: str
    environment: str
    digest: str
    at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def of(cls, v: VerdictRecord) -> VerdictView:
        return cls(v.person, v.kind, scrub(v.note), v.environment, v.digest, v.at, v.withdrawn_at)

    def to_json(self) -> Json:
        return {
            "person": self.person,
            "kind": self.kind,
            "note": self.note,
            "environment": self.environment,
            "digest": self.digest,
            "at": self.at.isoformat(),
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
        }


SignOffState = Literal["none", "passed", "held"]


@dataclass(frozen=True)
class SignOffView:
    """The sign-off between the environment before production and production (the
    diamond): ``none`` (no such pair, or nothing waiting), ``passed`` or ``held``."""

    state: SignOffState
    source: str | None
    target: str | None
    release: Release | None
    #: (gate, passed | failed | error | pending) for each gate but the approval
    gates: tuple[tuple[str, str], ...]
    approvers: tuple[str, ...]
    approvals_required: int
    reviewers: tuple[str, ...]
    #: (reason, what clears it)
    holds: tuple[tuple[str, str], ...] = ()
    verdicts: tuple[VerdictView, ...] = ()
    #: the source has an approval gate: people sign off there
    can_sign_off: bool = False
    #: the target already runs this digest: nothing is waiting
    promoted: bool = False

    @property
    def promote(self) -> bool:
        return self.state == "passed"

    def to_json(self) -> Json:
        release = self.release
        return {
            "state": self.state,
            "promote": self.promote,
            "source": self.source,
            "target": self.target,
            **release_json(release),
            "gates": [{"name": name, "status": status} for name, status in self.gates],
            "approvals": {
                "in": len(self.approvers),
                "required": self.approvals_required,
                "people": list(self.approvers),
            },
            "approvals_required": self.approvals_required,
            "reviewers": list(self.reviewers),
            "holds": [{"reason": reason, "clear": clear} for reason, clear in self.holds],
            "verdicts": [v.to_json() for v in self.verdicts],
            "can_sign_off": self.can_sign_off,
            "promoted": self.promoted,
        }


@dataclass(frozen=True)
class Parity:
    """Parity's part of the picture: how far the environment before production is ahead
    of it, who may deploy and approve where, and the migration rehearsal of what runs."""

    time_gap: TimeGap | None = None
    people: tuple[People, ...] = ()
    rehearsals: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelineView:
    service: str
    build: BuildView | None
    environments: tuple[EnvironmentView, ...]
    signoff: SignOffView
    parity: Parity = field(default_factory=Parity)
    #: the open review environments (``usecases/review_list.py``)
    reviews: tuple[ReviewView, ...] = ()

    def to_json(self) -> Json:
        """The document ``stageline status --json`` prints and ``/api/pipeline`` returns."""
        gap = self.parity.time_gap
        return {
            "service": self.service,
            "build": self.build.to_json() if self.build else None,
            "latest_artifact": self.build.release.digest if self.build else None,
            "environments": [e.to_json() for e in self.environments],
            "signoff": self.signoff.to_json(),
            "time_gap": gap.to_json() if gap else None,
            "people": [p.to_json() for p in self.parity.people],
            "rehearsals": list(self.parity.rehearsals),
            "reviews": [r.to_json() for r in self.reviews],
        }


# -- building it ---------------------------------------------------------------------------


def pipeline_view(
    session: Session, observe: Observer, parity: Parity | None = None
) -> PipelineView:
    """The pipeline now. ``parity`` may come from a cache (it reads the whole deployment
    history); by default it is gathered here."""
    pipe = session.pipeline()
    now = datetime.now(UTC)
    source, production = pipe.signoff_pair()
    gate = source.name if source else None
    latest = session.store.list_artifacts(limit=1)
    environments = tuple(
        _environment(session, env, observe, now, gate, production) for env in pipe.environments
    )
    return PipelineView(
        pipe.service.name,
        _build(latest[0], now) if latest else None,
        environments,
        signoff_view(session, pipe),
        parity if parity is not None else parity_of(session),
        tuple(list_reviews(session, now=now)),
    )


def parity_of(session: Session) -> Parity:
    """Parity's facts now (they read the whole deployment history: cache them)."""
    from stageline.gates.migrations import rehearsal_lines

    pipe = session.pipeline()
    running = [
        (e.name, _digest(session.store.current_deployment(e.name))) for e in pipe.environments
    ]
    return Parity(
        gap_between(session, *default_pair(pipe)) if len(pipe.environments) > 1 else None,
        tuple(people_of(session)),
        tuple(rehearsal_lines(session.store, running)),
    )


def release_of(session: Session, digest: str) -> Release:
    artifact = artifact_of(session, digest)
    return Release.of(artifact) if artifact else Release(digest, None, None)


def artifact_of(session: Session, digest: str) -> ArtifactRecord | None:
    """An artifact's record; artifacts never change, so a dashboard session remembers them."""
    seen: dict[str, ArtifactRecord] | None = getattr(session, "artifacts_seen", None)
    if seen is not None and digest in seen:
        return seen[digest]
    found = session.store.get_artifact(digest)
    if seen is not None and found is not None and len(seen) < 10_000:
        seen[digest] = found
    return found


def _build(artifact: ArtifactRecord, now: datetime) -> BuildView:
    release = Release.of(artifact)
    return BuildView(
        release, artifact.commit, artifact.built_at, artifact.built_by, age(artifact.built_at, now)
    )


def _environment(
    session: Session,
    env: Environment,
    observe: Observer,
    now: datetime,
    gate: str | None,
    production: Environment | None,
) -> EnvironmentView:
    current = session.store.current_deployment(env.name)
    observed = observe(env) if current is not None else None
    deployed_at = _deployed_at(current)
    return EnvironmentView(
        name=env.name,
        tier=env.tier.value,
        url=env.url,
        gate=env.name == gate or (gate is None and env.tier.value == "staging"),
        production=production is not None and env.name == production.name,
        release=release_of(session, current.digest) if current else None,
        health=observed.health if observed else NOT_DEPLOYED,
        deployed_at=deployed_at,
        age=age(deployed_at, now),
        deployed_by=current.actor if current else None,
        break_glass=current is not None and current.kind == "force",
        observed=observed,
        drift=service_drift(session, current.digest) if current else None,
    )


def _digest(current: DeploymentRecord | None) -> str | None:
    return current.digest if current else None


def _deployed_at(current: DeploymentRecord | None) -> datetime | None:
    return (current.finished_at or current.started_at) if current else None


#: sign-off's gate states as the diamond shows them (missing, stale: pending)
_GATE_STATE = {"passed": "passed", "failed": "failed", "error": "error"}


def signoff_view(session: Session, pipe: Pipeline) -> SignOffView:
    """The sign-off of the release waiting before production: passed, held and why, or
    none (no environment before production, or nothing deployed there)."""
    source, target = pipe.signoff_pair()
    rule = approval_rule(source) if source else None
    required = [n for n, g in source.gates.items() if g.kind != "approval"] if source else []
    empty = SignOffView(
        state="none",
        source=source.name if source else None,
        target=target.name if target else None,
        release=None,
        gates=tuple((name, "pending") for name in required),
        approvers=(),
        approvals_required=rule.required if rule else 0,
        reviewers=tuple(rule.reviewers) if rule else (),
        can_sign_off=rule is not None,
    )
    if source is None or target is None:
        return empty
    current = session.store.current_deployment(source.name)
    if current is None:
        return empty
    try:
        decision = signoff_for(session, source.name, target.name)
    except (StagelineError, ValueError) as exc:
        return replace(empty, state="held", holds=((scrub(str(exc)), "fix the pipeline file"),))
    landed = session.store.current_deployment(target.name)
    return _decided(session, empty, decision, current.digest, required, landed)


def _decided(
    session: Session,
    empty: SignOffView,
    decision: SignOff,
    digest: str,
    required: list[str],
    landed: DeploymentRecord | None,
) -> SignOffView:
    source = empty.source or ""
    return replace(
        empty,
        state="passed" if decision.promote else "held",
        release=release_of(session, digest),
        gates=tuple((n, _GATE_STATE.get(decision.gates.get(n, ""), "pending")) for n in required),
        approvers=tuple(decision.approvals_counted),
        approvals_required=decision.approvals_required,
        holds=tuple((scrub(h.reason), scrub(h.clear)) for h in decision.holds),
        verdicts=tuple(
            VerdictView.of(v)
            for v in session.store.verdicts(source, digest)
            if v.withdrawn_at is None
        ),
        promoted=landed is not None and landed.digest == digest,
    )


def without_clock(data: Any) -> Any:
    """``data`` without the :data:`CLOCK_KEYS` (to compare two readings of the same facts)."""
    if isinstance(data, dict):
        return {k: without_clock(v) for k, v in data.items() if k not in CLOCK_KEYS}
    if isinstance(data, list):
        return [without_clock(v) for v in data]
    return data
