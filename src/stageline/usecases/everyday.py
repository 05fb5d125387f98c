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

Where a one-off command's data goes (:func:`plan_run`, pure): by default, when the
environment has PostgreSQL, on a scratch copy of its database made and dropped exactly as
the isolated gates do (``rehearsal.isolation.isolate``: a ``pg_dump | pg_restore`` copy,
a role that owns only the copy, every variable re-resolved against it, Redis pointed at
no server, a scratch copy of the release folder with empty persist folders), refused
before anything runs when a variable still names the live database outright
(``ReachesLive``), with ``rehearsal.tripwire`` watching the live database meanwhile; the
copy, its role and the folder are dropped afterwards whatever happened (a failing or
interrupted command included). ``live=True`` (``--live``) runs against the live data as
the service does, for the operator's ``manage.py createsuperuser``: a stronger action
(``access.run_actions``: ``run_live``, and ``force`` too in production). Without
PostgreSQL there is no database to copy: the command runs with the release's variables.
The person sees the command's output unmasked on their own terminal. Files it writes
into the release folder make the next start refuse (the folder is sealed): write
elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Literal

from stageline.config.model import Environment, Tier
from stageline.config.resolve import PostgresFacts, masked
from stageline.decisions.access import Action, run_actions
from stageline.errors import UsageError
from stageline.host.signals import handled
from stageline.identity import Credentials, current_actor
from stageline.state import ArtifactRecord, DeploymentRecord
from stageline.state.locks import environment_lock
from stageline.targets.base import Prepared, Target
from stageline.usecases.deploy import materialize, release_variables
from stageline.usecases.permissions import require
from stageline.usecases.pipeline import Session

Progress = Callable[[str], None]
#: where a one-off command's database connections go
Place = Literal["copy", "live", "none"]
#: the application name (PGAPPNAME) a command on a copy carries, for the tripwire
APPLICATION = "stageline-run"


@dataclass(frozen=True)
class Ran:
    """A one-off command that ran: where, with which release, how it ended."""

    environment: str
    release: ArtifactRecord
    #: the command as the audit log holds it (secret values masked)
    argv: tuple[str, ...]
    exit_code: int
    #: where its database connections went (see :func:`plan_run`)
    place: Place = "live"
    #: the tripwire's message when the command on a copy reached the live database
    reached_live: str = ""


@dataclass(frozen=True)
class Up:
    """An environment after ``up``: the release deployed there, and whether it had to be
    started (False: it was running already)."""

    environment: str
    release: ArtifactRecord
    started: bool


@dataclass(frozen=True)
class RunPlan:
    """Where a one-off command runs, what the caller must be allowed, and the line that
    tells them (pure; see :func:`plan_run`)."""

    place: Place
    actions: tuple[Action, ...]
    says: str


def plan_run(env: Environment, *, live: bool) -> RunPlan:
    """A copy of ``env``'s database unless ``live`` (asked for) or ``env`` has none; the
    actions from ``access.run_actions`` (pure)."""
    actions = run_actions(live=live, production=env.tier == Tier.production)
    if env.postgres is None:
        says = f"{env.name} has no PostgreSQL database: no copy needed"
        return RunPlan("none", actions, says)
    if live:
        return RunPlan("live", actions, f"on {env.name}'s live database (--live)")
    says = f"on a copy of {env.name}'s database; pass --live to change the live data"
    return RunPlan("copy", actions, says)


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
    live: bool = False,
    credentials: Credentials | None = None,
    progress: Progress | None = None,
) -> Ran:
    """Run ``argv`` in ``environment`` with the release deployed there, attached to the
    caller's terminal (``Target.run_interactive``), once the caller may (the actions of
    :func:`plan_run`): on a copy of the database unless ``live``; audited before and
    after (``live`` recorded). A non-zero exit is not an error: it is returned.
    ``ReachesLive`` (nothing run) when a variable would still open the live database."""
    if not argv:
        raise UsageError(
            "no command to run",
            hint=f"put it after `--`: `stageline run {environment} -- python -V`",
        )
    report = progress or (lambda _stage: None)
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current, artifact = deployed(session, env)
    plan = plan_run(env, live=live)
    actor = require(
        session, plan.actions[0], env.name, pipe=pipe, digest=current.digest,
        credentials=credentials,
    )  # fmt: skip
    for action in plan.actions[1:]:  # proven once: the person is vouched for
        require(session, action, env.name, person=actor, digest=current.digest, pipe=pipe)
    target, prepared = materialize(session, env, current.digest, report)
    postgres, variables = release_variables(session, env, target, prepared, report)
    shown = masked_argv(argv, variables, env, postgres)

    def audit(kind: str, **data: object) -> None:
        session.store.append_event(
            kind,
            actor=actor,
            environment=env.name,
            digest=current.digest,
            data={"argv": list(shown), "live": live, **data},
        )

    if plan.place == "copy" and postgres is not None:
        code, reached = _on_copy(env, target, prepared, postgres, variables, argv, audit, report)
        return Ran(env.name, artifact, shown, code, plan.place, reached)
    report(plan.says)
    code = _attached(target, prepared, argv, variables, audit)
    return Ran(env.name, artifact, shown, code, plan.place)


Audit = Callable[..., None]


def _attached(
    target: Target,
    prepared: Prepared,
    argv: Sequence[str],
    variables: Mapping[str, str],
    audit: Audit,
    **data: object,
) -> int:
    """Run the command on the caller's terminal between ``run.started`` and
    ``run.finished`` (with its exit code, 127 when it could not be started)."""
    audit("run.started", **data)
    code = 127
    try:
        code = target.run_interactive(prepared, argv, variables)
    finally:
        audit("run.finished", exit=code, **data)
    return code


def _on_copy(
    env: Environment,
    target: Target,
    prepared: Prepared,
    live: PostgresFacts,
    variables: Mapping[str, str],
    argv: Sequence[str],
    audit: Audit,
    report: Progress,
) -> tuple[int, str]:
    """The command on a scratch copy of ``live`` (``isolation.isolate``, as the isolated
    gates make it) under the tripwire; (exit code, the tripwire's message or "")."""
    # here, not at the top: the rest of the CLI loads without psycopg's machinery
    from stageline.rehearsal.isolation import isolate
    from stageline.rehearsal.tripwire import guard

    report(f"copying {env.name}'s database {live.database}")
    with (
        _stops_interrupt(),
        isolate(
            env, live, variables, release_dir=prepared.workdir, admin_url=target.admin_url()
        ) as iso,
    ):
        iso.refuse_if_aimed("the command", env.name)
        on_copy = replace(prepared, workdir=iso.workdir)
        report(plan_run(env, live=False).says)
        with guard(
            iso, what="the command", environment=env.name, applications={APPLICATION},
            pids=_own_group,
        ) as watch:  # fmt: skip
            code = _attached(
                target, on_copy, argv, {**iso.variables, "PGAPPNAME": APPLICATION}, audit,
                copy=iso.copy.database,
            )  # fmt: skip
    if watch.message:
        audit("run.reached_live", copy=iso.copy.database, message=watch.message)
    return code, watch.message


@contextmanager
def _stops_interrupt() -> Iterator[None]:
    """A SIGTERM or SIGHUP to stageline inside the block raises KeyboardInterrupt, as
    Ctrl-C does, so the copy is dropped on the way out (while the command runs, the
    target passes them on to it instead)."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with handled(interrupt):
        yield


def _own_group() -> set[int]:
    """stageline's process group when it leads one (started from a shell): the command
    runs in it, so the tripwire knows its connections by their client ports."""
    return {os.getpgrp()} if os.getpgrp() == os.getpid() else set()


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
