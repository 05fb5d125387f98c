"""See the pipeline: what runs where, how healthy, since when; an environment's config; down."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from stageline.config.model import Environment, Service
from stageline.config.resolve import ReleaseFacts, masked, service_environment
from stageline.identity import current_actor
from stageline.parity.gap import People, TimeGap
from stageline.parity.report import default_pair, gap_between, people_of
from stageline.pipeline import Session
from stageline.secrets import secrets_for
from stageline.signoff import SignOff
from stageline.state import ArtifactRecord
from stageline.state.locks import environment_lock
from stageline.verification import signoff_for

#: seconds the health path of one environment has to answer
HEALTH_TIMEOUT = 2.0


@dataclass(frozen=True)
class EnvironmentStatus:
    name: str
    tier: str
    url: str
    version: str | None
    digest: str | None
    health: str  # healthy | unhealthy | down | not deployed
    deployed_at: datetime | None
    deployed_by: str | None
    restarts: int
    #: blue/green: the digest the proxy serves, its processes, seconds left to watch
    serving: str | None = None
    processes: int = 0
    watching_for: float = 0.0

    @property
    def age_seconds(self) -> float | None:
        if self.deployed_at is None:
            return None
        return (datetime.now(UTC) - self.deployed_at).total_seconds()


@dataclass(frozen=True)
class PipelineStatus:
    service: str
    latest: ArtifactRecord | None
    environments: list[EnvironmentStatus]
    #: the sign-off between the environment before production and production, if any
    signoff: SignOff | None = None
    signoff_source: str | None = None
    #: parity: how far the environment before production is ahead of it, and who may
    #: deploy to and approve each environment (``stageline.parity.gap``)
    time_gap: TimeGap | None = None
    people: tuple[People, ...] = ()


def status(session: Session) -> PipelineStatus:
    pipe = session.pipeline()
    artifacts = session.store.list_artifacts()
    rows = [_environment_status(session, env, pipe.service) for env in pipe.environments]
    source, signoff = _signoff(session)
    gap = gap_between(session, *default_pair(pipe)) if len(pipe.environments) > 1 else None
    return PipelineStatus(
        pipe.service.name, artifacts[0] if artifacts else None, rows, signoff, source,
        gap, tuple(people_of(session)),
    )  # fmt: skip


def _signoff(session: Session) -> tuple[str | None, SignOff | None]:
    """The sign-off of the release waiting before production: promote, or held and why."""
    pipe = session.pipeline()
    names = pipe.names
    production = next((e for e in pipe.environments if e.tier.value == "production"), None)
    if production is None or names.index(production.name) == 0:
        return None, None
    source = pipe.environments[names.index(production.name) - 1]
    if not source.gates or session.store.current_deployment(source.name) is None:
        return None, None
    return source.name, signoff_for(session, source.name, production.name)


def _environment_status(session: Session, env: Environment, service: Service) -> EnvironmentStatus:
    current = session.store.current_deployment(env.name)
    if current is None:
        return EnvironmentStatus(
            env.name, env.tier.value, env.url, None, None, "not deployed", None, None, 0
        )
    artifact = session.store.get_artifact(current.digest)
    target = session.target(env, service.name)
    running = target.status()
    health = target.health(service.health, timeout=HEALTH_TIMEOUT)
    return EnvironmentStatus(
        name=env.name,
        tier=env.tier.value,
        url=env.url,
        version=artifact.version if artifact else None,
        digest=current.digest,
        health=health,
        deployed_at=current.finished_at or current.started_at,
        deployed_by=current.actor,
        restarts=running.restarts if running else 0,
        serving=running.digest if running and running.strategy == "blue-green" else None,
        processes=len(running.processes) if running else 0,
        watching_for=running.watching_for if running else 0.0,
    )


def environment_config(session: Session, environment: str) -> dict[str, str]:
    """The variables ``environment``'s service receives, with secret values masked."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current = session.store.current_deployment(env.name)
    artifact = session.store.get_artifact(current.digest) if current else None
    release = ReleaseFacts(
        artifact.version if artifact else "(not deployed)", current.digest if current else ""
    )
    secrets = secrets_for(env, session)
    placeholders = {name: secrets.get(name, "(not set)") for name in env.secrets}
    postgres = session.target(env, pipe.service.name).backing(start=False)
    variables = service_environment(
        env, release, port=env.target.port, postgres=postgres, secrets=placeholders
    )
    hidden = {**secrets, "postgres.password": postgres.password if postgres else ""}
    shown = masked(variables, hidden)
    for name in env.secrets:
        shown[name] = "****" if name in secrets else "(not set)"
    return shown


def down(session: Session, environment: str | None = None) -> list[str]:
    """Stop environments (all when None) and their own PostgreSQL servers, under each
    one's deploy lock, all taken first: ``LockHeld`` (naming the holder) while a deploy
    runs in any of them, and then nothing was stopped."""
    pipe = session.pipeline()
    chosen = [pipe.environment(environment)] if environment else list(pipe.environments)
    actor = current_actor()
    with ExitStack() as held:
        for env in chosen:
            held.enter_context(session.store.lock(environment_lock(env.name), holder=actor))
        return [env.name for env in reversed(chosen) if _stop(session, env, pipe.service.name)]


def _stop(session: Session, env: Environment, service: str) -> bool:
    """Stop ``env``'s service and PostgreSQL server; whether anything was running."""
    target = session.target(env, service)
    running = target.status()
    target.stop()
    pg = target.stop_backing()
    if running is None and not pg:
        return False
    session.store.append_event("environment.down", actor=current_actor(), environment=env.name)
    return True
