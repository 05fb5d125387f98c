"""Everyday commands on an environment: a one-off command with the release it serves
(``stageline run ENV -- CMD``), and that release started again after ``down``
(``stageline up``).

Both act on the release an environment has now: its latest succeeded deployment (the
digest ``status`` shows), never a build of their own choosing, and refuse when nothing is
deployed there. Both go through the access decision of every write to the environment
(``permissions.require``: actions ``run`` and ``up`` follow its ``deploy`` rule; ``run``
in production also needs proof of who acts, as a deploy there does) and start from the
release folder a deploy prepared (``deploy.materialize``: the artifact verified, the
sealed folder checked), with the variables the service gets (``deploy.release_variables``:
the one resolution, secrets included). What they record in the audit log:

- ``run.started`` before the command runs (its argv, every secret value and database
  password in it masked) and ``run.finished`` after, with its exit code;
- ``environment.up`` once the restarted release answered its health check.

A one-off command runs against the environment's own database, as the service does: it
is for the operator's ``manage.py createsuperuser`` or a shell, who sees its output
unmasked on their own terminal. Files it writes into the release folder make the next
start refuse (the folder is sealed): write elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, masked
from stageline.errors import UsageError
from stageline.identity import Credentials, current_actor
from stageline.state import ArtifactRecord, DeploymentRecord
from stageline.state.locks import environment_lock
from stageline.usecases.deploy import materialize, release_variables
from stageline.usecases.permissions import require
from stageline.usecases.pipeline import Session

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Ran:
    """A one-off command that ran: where, with which release, how it ended."""

    environment: str
    release: ArtifactRecord
    #: the command as the audit log holds it (secret values masked)
    argv: tuple[str, ...]
    exit_code: int


@dataclass(frozen=True)
class Up:
    """An environment after ``up``: the release deployed there, and whether it had to be
    started (False: it was running already)."""

    environment: str
    release: ArtifactRecord
    started: bool


def deployed(session: Session, env: Environment) -> tuple[DeploymentRecord, ArtifactRecord]:
    """The deployment ``env`` has now and its artifact; UsageError when none."""
    current = session.store.current_deployment(env.name)
    artifact = session.store.get_artifact(current.digest) if current else None
    if current is None or artifact is None:
        raise UsageError(
            f"nothing is deployed in {env.name}",
            hint=f"deploy a release first: `stageline deploy {env.name} TAG`",
        )
    return current, artifact


def masked_argv(
    argv: Sequence[str],
    variables: dict[str, str],
    env: Environment,
    postgres: PostgresFacts | None,
) -> tuple[str, ...]:
    """``argv`` as it may be recorded and shown: each value of ``env``'s secrets, the
    database password and any password inside a URL replaced by ``****`` (pure)."""
    hidden = {name: variables.get(name, "") for name in env.secrets}
    if postgres is not None:
        hidden["postgres.password"] = postgres.password
    shown = masked({str(i): arg for i, arg in enumerate(argv)}, hidden)
    return tuple(shown[str(i)] for i in range(len(argv)))


def run_command(
    session: Session,
    environment: str,
    argv: Sequence[str],
    *,
    credentials: Credentials | None = None,
    progress: Progress | None = None,
) -> Ran:
    """Run ``argv`` in ``environment`` with the release deployed there, attached to the
    caller's terminal (``Target.run_interactive``), once the caller may (``run``);
    audited before and after. A non-zero exit is not an error: it is returned."""
    if not argv:
        raise UsageError(
            "no command to run",
            hint=f"put it after `--`: `stageline run {environment} -- python -V`",
        )
    report = progress or (lambda _stage: None)
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current, artifact = deployed(session, env)
    actor = require(
        session, "run", env.name, pipe=pipe, digest=current.digest, credentials=credentials
    )
    target, prepared = materialize(session, env, current.digest, report)
    postgres, variables = release_variables(session, env, target, prepared, report)
    shown = masked_argv(argv, variables, env, postgres)

    def audit(kind: str, **data: object) -> None:
        session.store.append_event(
            kind,
            actor=actor,
            environment=env.name,
            digest=current.digest,
            data={"argv": list(shown), **data},
        )

    audit("run.started")
    code = 127  # if it could not be started at all
    try:
        code = target.run_interactive(prepared, argv, variables)
    finally:
        audit("run.finished", exit=code)
    return Ran(env.name, artifact, shown, code)


def up(
    session: Session, environment: str | None = None, *, progress: Progress | None = None
) -> list[Up]:
    """Start again the release deployed in ``environment`` (every environment with one
    when None) where it is not running: the same digest from the same release folder,
    its backing services first, under its deploy lock, returning once it answers its
    health check (``DeployFailed`` otherwise). The caller's right (``up``) is checked for
    every chosen environment before any starts. The release command is not run again:
    the database is as ``down`` left it."""
    report = progress or (lambda _stage: None)
    pipe = session.pipeline()
    if environment is not None:
        chosen = [pipe.environment(environment)]
        deployed(session, chosen[0])  # refuse at once: nothing to bring up
    else:
        chosen = [e for e in pipe.environments if session.store.current_deployment(e.name)]
    for env in chosen:
        require(session, "up", env.name, pipe=pipe)
    return [_up(session, env, report) for env in chosen]


def _up(session: Session, env: Environment, report: Progress) -> Up:
    actor = current_actor()
    with session.store.lock(environment_lock(env.name), holder=actor):
        current, artifact = deployed(session, env)
        running = session.target(env, artifact.service).status()
        if running is not None and running.state != "stopped" and running.digest == current.digest:
            return Up(env.name, artifact, started=False)
        target, prepared = materialize(session, env, current.digest, report)
        _, variables = release_variables(session, env, target, prepared, report)
        report(f"starting {artifact.name} in {env.name}, waiting for health")
        target.start(prepared, variables)
        session.store.append_event(
            "environment.up",
            actor=actor,
            environment=env.name,
            digest=current.digest,
            data={"deployment": current.id},
        )
    return Up(env.name, artifact, started=True)
