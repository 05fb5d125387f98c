"""See the pipeline: what runs where, how healthy, since when; an environment's config; down."""

from __future__ import annotations

from contextlib import ExitStack

from stageline.config.model import Environment
from stageline.config.resolve import ReleaseFacts, masked, service_environment
from stageline.identity import current_actor
from stageline.state import DeploymentRecord
from stageline.state.locks import environment_lock
from stageline.targets.base import Target
from stageline.usecases.pipeline import Session, frozen_service
from stageline.usecases.secrets import secrets_for
from stageline.usecases.views import Observed, PipelineView, Release, pipeline_view, release_of

#: seconds the health path of one environment has to answer
HEALTH_TIMEOUT = 2.0


def observe(target: Target, health_path: str, timeout: float = HEALTH_TIMEOUT) -> Observed:
    """What an environment's ``target`` reports now: its health (down: not running, or
    stopped; idle: scaled to zero, not asked, since a request would wake it; else
    healthy or unhealthy by ``health_path``), restarts, and the blue/green fleet. The
    one place the read model asks a target (the CLI directly, the dashboard through its
    cache)."""
    try:
        running = target.status()
        if running is not None and running.state == "idle":
            return Observed("idle", serving=running.digest)
        health = target.health(health_path, timeout=timeout)
    except OSError:
        return Observed("down")
    if running is None:
        return Observed(health)
    return Observed(
        health,
        restarts=running.restarts,
        serving=running.digest if running.strategy == "blue-green" else None,
        processes=sum(p.process_type == "web" for p in running.processes),
        watching_for=running.watching_for,
        workers={p.process_type: p.state for p in running.processes if p.process_type != "web"},
    )


def status(session: Session) -> PipelineView:
    """The pipeline now, every target asked (``stageline status``)."""
    pipe = session.pipeline()
    return pipeline_view(
        session,
        lambda env: observe(session.target(env, pipe.service.name), _health_path(session, env)),
    )


def _health_path(session: Session, env: Environment) -> str:
    """The health path of the release running in ``env``: its artifact's frozen one (the
    pipeline file's for a release whose artifact is gone)."""
    current = session.store.current_deployment(env.name)
    frozen = frozen_service(session, current.digest) if current else None
    return frozen.health if frozen else session.pipeline().service.health


def history(
    session: Session, environment: str | None = None, limit: int = 100
) -> list[tuple[DeploymentRecord, Release]]:
    """Deployments (of ``environment``, else every one), newest first, each with the
    release it ran, named by its tag (``stageline history``)."""
    if environment:
        environment = session.pipeline().environment(environment).name
    return [
        (r, release_of(session, r.digest)) for r in session.store.deployments(environment, limit)
    ]


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
    target = session.target(env, pipe.service.name)
    postgres, redis = target.backing(start=False), target.redis(start=False)
    variables = service_environment(
        env, release, port=env.target.port, postgres=postgres, secrets=placeholders, redis=redis
    )
    hidden = {
        **secrets,
        "postgres.password": postgres.password if postgres else "",
        "redis.password": redis.password if redis else "",
    }
    shown = masked(variables, hidden)
    for name in env.secrets:
        shown[name] = "****" if name in secrets else "(not set)"
    return shown


def down(session: Session, environment: str | None = None) -> list[str]:
    """Stop environments (all when None) and their own PostgreSQL and Redis servers, under each
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
    """Stop ``env``'s service and its PostgreSQL and Redis servers; whether anything was running."""
    target = session.target(env, service)
    running = target.status()
    target.stop()
    pg = target.stop_backing()
    if running is None and not pg:
        return False
    session.store.append_event("environment.down", actor=current_actor(), environment=env.name)
    return True
