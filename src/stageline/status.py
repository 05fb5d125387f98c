"""See the pipeline: what runs where, how healthy, since when; an environment's config; down."""

from __future__ import annotations

from pathlib import Path

import httpx

from stageline.config.model import Environment, Pipeline
from stageline.config.resolve import ReleaseFacts, masked, service_environment
from stageline.identity import current_actor
from stageline.pipeline import Session
from stageline.secrets import secrets_for
from stageline.targets import for_environment
from stageline.targets.backing import postgres_facts, stop_postgres
from stageline.views import Observed, PipelineView, pipeline_view


def check_health(port: int, path: str, timeout: float = 2.0) -> bool:
    """The service on ``port`` answers 200 on ``path`` (loopback: never through a proxy)."""
    try:
        url = f"http://127.0.0.1:{port}{path}"
        return httpx.get(url, timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def observe(home: Path, pipe: Pipeline, env: Environment, timeout: float = 2.0) -> Observed:
    """What ``env``'s target reports now: down (not running, or stopped), else healthy or
    unhealthy by its health path; restarts, and the blue/green fleet. The one place the
    read model asks a target (the CLI directly, the dashboard through its cache)."""
    try:
        running = for_environment(home, env, pipe.service.name).status()
    except OSError:
        running = None
    if running is None or running.state == "stopped":
        health = "down"
    else:
        health = (
            "healthy"
            if check_health(env.target.port, pipe.service.health, timeout)
            else "unhealthy"
        )
    if running is None:
        return Observed(health)
    return Observed(
        health,
        restarts=running.restarts,
        serving=running.digest if running.strategy == "blue-green" else None,
        processes=len(running.processes),
        watching_for=running.watching_for,
    )


def status(session: Session) -> PipelineView:
    """The pipeline now, every target asked (``stageline status``)."""
    pipe, home = session.pipeline(), session.workspace.home
    return pipeline_view(session, lambda env: observe(home, pipe, env))


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
    postgres = postgres_facts(session.workspace.home, env, pipe.service.name)
    variables = service_environment(
        env, release, port=env.target.port, postgres=postgres, secrets=placeholders
    )
    hidden = {**secrets, "postgres.password": postgres.password if postgres else ""}
    shown = masked(variables, hidden)
    for name in env.secrets:
        shown[name] = "****" if name in secrets else "(not set)"
    return shown


def down(session: Session, environment: str | None = None) -> list[str]:
    """Stop environments (all when None) and their own PostgreSQL servers."""
    pipe = session.pipeline()
    chosen = [pipe.environment(environment)] if environment else list(pipe.environments)
    stopped: list[str] = []
    for env in reversed(chosen):
        target = for_environment(session.workspace.home, env, pipe.service.name)
        running = target.status()
        target.stop()
        pg = stop_postgres(session.workspace.home, env)
        if running is not None or pg:
            stopped.append(env.name)
            session.store.append_event(
                "environment.down", actor=current_actor(), environment=env.name
            )
    return stopped
