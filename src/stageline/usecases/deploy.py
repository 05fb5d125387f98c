"""Deploy, promote, roll back and ship: plan first, then act in named stages.

Plan and act are separate: ``plan_deploy``, ``plan_promote`` and ``plan_rollback`` compute
a frozen :class:`Plan` (what lands where, the entry decision, the steps, the pipeline it
was judged against), which ``--dry-run`` prints; :func:`execute` carries out exactly that
plan under the environment's lock. ``deploy``, ``promote`` and ``rollback`` are the two
in one call; ``ship`` chains them. The entry decision is ``stageline.usecases.entry.decide_entry``,
the same for deploy, promote, ship and a rollback to a digest that never ran in the
environment: the sign-off of every gated environment before the target; ``--force`` is
break-glass. Whatever fails, the previous release is serving when the call returns and
the deployment is recorded as failed with the reason and log tail.

With the ``blue-green`` strategy the switch is followed by a watch window in the agent:
the deployment is recorded ``succeeded`` at the switch, and the agent itself records it
``rolled_back`` (with the reason) if the new release crashes in the window. Right after
the switch (either strategy) the environment's after-deploy checks run
(``after_deploy.py``); a failure switches the previous release back the same way.
``wait=True`` waits for the window to end. A deployment left ``in_progress`` by a command
that died is settled by the next deploy of the environment, from what the agent serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from stageline.agent.record import settle
from stageline.artifacts import deps, section
from stageline.config.model import Environment, Pipeline
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.decisions.policy import Decision
from stageline.decisions.schema_check import SchemaDecision
from stageline.errors import DeployFailed, GitError, StagelineError, UsageError
from stageline.identity import Credentials, current_actor
from stageline.state import ArtifactRecord, DeploymentKind, DeploymentRecord
from stageline.state.locks import environment_lock
from stageline.targets.base import (
    CommandResult,
    DeploymentId,
    Prepared,
    Release,
    ServiceStatus,
    Target,
)
from stageline.usecases import schema_state
from stageline.usecases.after_deploy import AfterDeploy, check_after_switch, kept_serving
from stageline.usecases.entry import Entry, break_glass_data, decide_entry, enforce
from stageline.usecases.permissions import require
from stageline.usecases.pipeline import (
    Session,
    build,
    current_source,
    find_artifact,
    named,
    one_build,
    refuse_moved_tag,
)
from stageline.usecases.secrets import secrets_for
from stageline.usecases.settling import reconcile
from stageline.usecases.verification import refresh_soak, verify
from stageline.values import label

Progress = Callable[[str], None]
RELEASE_COMMAND_TIMEOUT = 600.0


@dataclass(frozen=True)
class Plan:
    """What a deploy, promotion or rollback would do; :func:`execute` does exactly this."""

    environment: str
    kind: DeploymentKind
    artifact: ArtifactRecord
    previous: DeploymentRecord | None
    decision: Decision
    steps: list[str] = field(default_factory=list)
    #: the entry decision (every hold, what ``--force`` overrode); ``decision`` summarizes it
    entry: Entry | None = None
    #: for a promotion: the environment the digest comes from
    source: str | None = None
    #: for a rollback: the schema decision (``schema_state`` acts on it before the switch)
    schema: SchemaDecision | None = None
    #: the pipeline the plan was judged against (execute acts on the same one)
    pipe: Pipeline | None = field(default=None, repr=False, compare=False)
    #: what of the pipeline file's ``[service]`` differs from the artifact's frozen one
    #: (deploys use the frozen one; ``artifacts.section.drift``), None: nothing
    drift: str | None = None


@dataclass(frozen=True)
class Deployed:
    plan: Plan
    deployment: DeploymentRecord
    status: ServiceStatus
    release_command: CommandResult | None
    #: blue/green: how the watch window ended, when the caller waited for it
    watched: str | None = None
    #: the after-deploy checks run right after the switch (None: the environment has none)
    after_deploy: AfterDeploy | None = None
    #: how the watch ended, in words: the reason of a switch back, or why it failed
    watch_detail: str = ""


def resolve_artifact(
    session: Session, ref: str, progress: Progress | None = None
) -> ArtifactRecord:
    """A stored artifact by digest or tag; a git ref not built yet is built once now.

    A tag the repository knows must still name the commit its artifact was built from
    (TagMoved otherwise, see ``pipeline.refuse_moved_tag``)."""
    if not ref.startswith("sha256:"):
        now = current_source(session, ref)
        if now is not None:
            refuse_moved_tag(session, now)
    try:
        return find_artifact(session, ref)
    except UsageError:
        if ref.startswith("sha256:"):
            raise
    try:
        built = build(session, ref, progress=progress)
    except GitError as exc:
        raise UsageError(
            f"{ref!r} is neither a stored artifact nor a git ref", hint=exc.hint
        ) from None
    note = deps.resolution_note(built.manifest)
    if note and progress is not None:
        progress(note)
    return built.record


def plan(
    session: Session,
    pipe: Pipeline,
    environment: str,
    artifact: ArtifactRecord,
    *,
    kind: DeploymentKind,
    force: bool = False,
    override_freeze: bool = False,
) -> Plan:
    env = pipe.environment(environment)
    entry = decide_entry(
        session,
        pipe,
        env.name,
        artifact,
        kind=kind,
        force=force,
        override_freeze=override_freeze,
    )
    manifest = session.artifacts.load(artifact.digest)[1]
    steps = [f"verify every file of {label(artifact.digest)}", f"prepare the release in {env.name}"]
    if env.postgres is not None:
        steps.append(f"ensure {env.name}'s PostgreSQL {env.postgres.version} and its database")
    if manifest.service.release and kind != "rollback":
        steps.append(f"run the release command: {manifest.service.release}")
    steps.append(
        f"start {manifest.service.name} {artifact.name} and wait for "
        f"{env.url}{manifest.service.health}"
    )
    current = session.store.current_deployment(env.name)
    return Plan(
        env.name, kind, artifact, current, entry.decision(), steps, entry=entry, pipe=pipe,
        drift=section.drift(pipe.service, manifest),
    )  # fmt: skip


def execute(
    session: Session, the_plan: Plan, progress: Progress | None = None, *, wait: bool = False
) -> Deployed:
    """Carry out ``the_plan`` under the environment's lock; record the outcome either way.

    A rollback's schema decision is audited first, and a failed rollback restores the
    schema it changed (``schema_state``)."""
    pipe = the_plan.pipe or session.pipeline()
    schema = the_plan.schema
    if schema is None:
        return _execute(session, pipe, the_plan, progress, wait=wait)
    schema_state.audit_decision(session.store, schema, the_plan.artifact.digest)
    try:
        return _execute(session, pipe, the_plan, progress, wait=wait)
    except DeployFailed:
        env = pipe.environment(the_plan.environment)
        schema_state.restore(session, pipe, env, schema, progress or (lambda _: None))
        raise


def _execute(
    session: Session, pipe: Pipeline, the_plan: Plan, progress: Progress | None, *, wait: bool
) -> Deployed:
    report = progress or (lambda _stage: None)
    _check_signoff(session, the_plan)
    env = pipe.environment(the_plan.environment)
    actor = current_actor()
    store = session.store
    with store.lock(environment_lock(env.name), holder=actor):
        reconcile(session, env, pipe.service.name)
        kind: DeploymentKind = "force" if the_plan.decision.break_glass else the_plan.kind
        record = store.start_deployment(env.name, the_plan.artifact.digest, actor=actor, kind=kind)
        if the_plan.entry is not None and the_plan.entry.break_glass:
            store.append_event(
                "deploy.break_glass",
                actor=actor,
                environment=env.name,
                digest=the_plan.artifact.digest,
                data=break_glass_data(the_plan.entry, record.id),
            )
        ref = DeploymentId(store.url, record.id, the_plan.artifact.digest)
        try:
            status, result, checked = _stages(session, pipe, env, the_plan, report, ref)
        except BaseException as exc:
            detail = str(exc) if isinstance(exc, StagelineError) else f"interrupted: {exc!r}"
            tail = getattr(exc, "log_tail", "")
            reason = f"{detail}\n{tail}".strip()
            settle(store, env.name, record.id, "failed", reason, actor=actor, event=False)
            store.append_event(
                f"{the_plan.kind}.failed",
                actor=actor,
                environment=env.name,
                digest=the_plan.artifact.digest,
                data={"reason": detail},
            )
            raise
        done = settle(store, env.name, record.id, "succeeded", actor=actor, event=False)
        assert done is not None
        if done.status == "succeeded":
            store.append_event(
                f"{the_plan.kind}.succeeded",
                actor=actor,
                environment=env.name,
                digest=the_plan.artifact.digest,
                data={"deployment": record.id},
            )
    watched, watch_detail = None, ""
    if done.status == "succeeded" and wait and status.strategy == "blue-green" and env.watch:
        report(f"watching {env.name} for {env.watch}s after the switch")
        target = session.target(env, pipe.service.name)
        outcome = target.wait_watch(timeout=env.watch + env.health_timeout + 60)
        if outcome is not None and outcome.settled:
            watched, watch_detail = outcome.status, outcome.reason
            done = next(d for d in store.deployments(env.name, limit=50) if d.id == record.id)
    if done.status == "rolled_back":
        raise DeployFailed(
            env.name,
            f"{the_plan.artifact.name} was rolled back in {env.name}: {done.detail}; "
            "the previous release serves again",
            hint=f"see `stageline logs {env.name}` and `stageline history {env.name}`",
        )
    kept_serving(env, the_plan.artifact.name, checked)
    return Deployed(
        the_plan, done, status, result, watched, after_deploy=checked, watch_detail=watch_detail
    )


def _check_signoff(session: Session, the_plan: Plan) -> None:
    """Enforce the plan's entry decision: record and raise a hold; audit an override."""
    if the_plan.entry is None:
        raise UsageError(f"the plan for {the_plan.environment} carries no entry decision")
    enforce(session, the_plan.entry, kind=the_plan.kind, version=the_plan.artifact.name)


def _stages(
    session: Session,
    pipe: Pipeline,
    env: Environment,
    the_plan: Plan,
    report: Progress,
    ref: DeploymentId,
) -> tuple[ServiceStatus, CommandResult | None, AfterDeploy | None]:
    digest = the_plan.artifact.digest
    target, prepared = materialize(session, env, digest, report)
    manifest = prepared.release.manifest
    postgres, variables = release_variables(session, env, target, prepared, report)
    result = None
    command = manifest.service.release
    if command and the_plan.kind != "rollback":
        report(f"running the release command: {command}")
        result = target.run(prepared, command, variables, timeout=RELEASE_COMMAND_TIMEOUT)
        if not result.ok:
            raise DeployFailed(
                env.name,
                f"release command `{command}` failed with exit code {result.returncode}",
                log_tail=result.output_tail,
                hint="nothing was switched: the previous release keeps serving",
            )
    if the_plan.schema is not None:
        schema_state.before_switch(session, pipe, env, target, the_plan.schema, postgres, report)
    if env.strategy == "blue-green":
        report(
            f"starting {manifest.service.name} {manifest.service.version} beside the serving "
            f"release ({env.processes} process{'es' if env.processes > 1 else ''}), "
            "switching when healthy"
        )
    else:
        report(f"starting {manifest.service.name} {manifest.service.version}, waiting for health")
    status = target.start(prepared, variables, deployment=ref)
    schema_state.record_after_deploy(session.store, ref.id, pipe, env, postgres)
    if status.strategy == "blue-green" and env.watch:
        report(f"switched; watching {env.watch}s (a crash switches the previous release back)")
    checked = check_after_switch(session, env, prepared, variables, target, status, ref, report)
    keep = {digest} | ({the_plan.previous.digest} if the_plan.previous else set())
    target.prune(keep)
    return status, result, checked


def materialize(
    session: Session, env: Environment, digest: str, report: Progress
) -> tuple[Target, Prepared]:
    """``env``'s target and the release ``digest`` prepared there, every file of the
    artifact verified first (a deploy, ``up`` and ``run`` all start from here)."""
    report(f"verifying every file of {label(digest)}")
    session.artifacts.verify(digest)
    _, manifest = session.artifacts.load(digest)
    target = session.target(env, manifest.service.name)
    release = Release(env.name, digest, manifest, session.artifacts.path_for(digest))
    report("preparing the release (offline virtualenv from the wheelhouse)")
    return target, target.prepare(release)


def release_variables(
    session: Session, env: Environment, target: Target, prepared: Prepared, report: Progress
) -> tuple[PostgresFacts | None, dict[str, str]]:
    """``env``'s backing services (started if needed) and every variable its service gets
    to run ``prepared``: its secrets included. The one resolution of what a release runs
    with: the service, its release command, ``up`` and a one-off ``run`` all get this."""
    if env.postgres is not None:
        report(f"starting {env.name}'s PostgreSQL")
    postgres = target.backing()
    redis = None
    if env.redis is not None:
        report(f"starting {env.name}'s Redis")
        redis = target.redis()
    variables = service_environment(
        env,
        ReleaseFacts(prepared.release.manifest.service.version, prepared.release.digest),
        port=env.target.port,
        postgres=postgres,
        secrets=secrets_for(env, session),
        redis=redis,
    )
    return postgres, variables


# -- the use cases ---------------------------------------------------------------------------


def plan_deploy(
    session: Session,
    environment: str,
    ref: str,
    *,
    force: bool = False,
    override_freeze: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    credentials: Credentials | None = None,
) -> Plan:
    """The plan to deploy ``ref`` to ``environment``, held or not (see ``stageline.usecases.entry``;
    ``force`` is break-glass). Unless ``dry_run``, the caller's right to deploy (and to
    each override) is checked first and the soak gates before ``environment`` are re-run,
    so the plan judges their verdicts as of now. A ref not built yet is built.
    ``credentials`` prove who acts when that is privileged (``permissions.privileged``)."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    if not dry_run:
        require(session, "deploy", env.name, pipe=pipe, credentials=credentials)
        _require_overrides(session, pipe, env.name, force, override_freeze, credentials=credentials)
    artifact = resolve_artifact(session, ref, progress)
    if not dry_run:
        refresh_soaks(session, pipe, env.name, artifact.digest)
    return plan(
        session,
        pipe,
        env.name,
        artifact,
        kind="deploy",
        force=force,
        override_freeze=override_freeze,
    )


def deploy(
    session: Session,
    environment: str,
    ref: str,
    *,
    force: bool = False,
    override_freeze: bool = False,
    progress: Progress | None = None,
    wait: bool = False,
    credentials: Credentials | None = None,
) -> Deployed:
    """Plan and execute a deploy of ``ref`` to ``environment`` (:func:`plan_deploy`)."""
    the_plan = plan_deploy(
        session,
        environment,
        ref,
        force=force,
        override_freeze=override_freeze,
        progress=progress,
        credentials=credentials,
    )
    return execute(session, the_plan, progress, wait=wait)


def _require_overrides(
    session: Session,
    pipe: Pipeline,
    environment: str,
    force: bool,
    override_freeze: bool,
    digest: str | None = None,
    credentials: Credentials | None = None,
) -> None:
    if force:
        require(session, "force", environment, pipe=pipe, digest=digest, credentials=credentials)
    if override_freeze:
        require(
            session,
            "override_freeze",
            environment,
            pipe=pipe,
            digest=digest,
            credentials=credentials,
        )


def refresh_soaks(session: Session, pipe: Pipeline, environment: str, digest: str) -> None:
    """Re-run the ``soak`` gates of each environment before ``environment`` running
    ``digest``: their verdict depends on the time now."""
    for before in pipe.environments[: pipe.names.index(environment)]:
        current = session.store.current_deployment(before.name)
        if current is not None and current.digest == digest:
            refresh_soak(session, before.name)


def plan_promote(
    session: Session,
    source: str,
    *,
    to: str | None = None,
    override_freeze: bool = False,
    force: bool = False,
    dry_run: bool = False,
    credentials: Credentials | None = None,
) -> Plan:
    """The plan to deploy the digest running in ``source`` to ``to`` (default: the next
    environment), held unless the sign-off (gates, approvals) of every gated environment
    before ``to``, not only ``source``'s, and ``to``'s freezes allow. Unless ``dry_run``,
    rights are checked (``credentials`` as for :func:`plan_deploy`) and soaks refreshed
    first."""
    pipe = session.pipeline()
    current = session.store.current_deployment(pipe.environment(source).name)
    if current is None:
        raise UsageError(
            f"nothing is deployed in {source}", hint=f"`stageline deploy {source} TAG`"
        )
    if to is None:
        following = pipe.next_after(source)
        if following is None:
            raise UsageError(f"{source} is the last environment; there is nowhere to promote to")
        to = following.name
    elif pipe.names.index(pipe.environment(to).name) <= pipe.names.index(source):
        raise UsageError(f"{to} does not come after {source}", hint=" -> ".join(pipe.names))
    if not dry_run:
        require(session, "promote", to, pipe=pipe, digest=current.digest, credentials=credentials)
        _require_overrides(
            session, pipe, to, force, override_freeze, current.digest, credentials=credentials
        )
    artifact = session.store.get_artifact(current.digest)
    assert artifact is not None
    if not dry_run:
        refresh_soaks(session, pipe, to, artifact.digest)
    return replace(
        plan(
            session,
            pipe,
            to,
            artifact,
            kind="promote",
            force=force,
            override_freeze=override_freeze,
        ),
        source=source,
    )


def promote(
    session: Session,
    source: str,
    *,
    to: str | None = None,
    override_freeze: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    wait: bool = False,
    credentials: Credentials | None = None,
) -> Deployed:
    """Plan and execute a promotion from ``source`` (:func:`plan_promote`)."""
    the_plan = plan_promote(
        session,
        source,
        to=to,
        override_freeze=override_freeze,
        force=force,
        credentials=credentials,
    )
    return execute(session, the_plan, progress, wait=wait)


def plan_rollback(
    session: Session,
    environment: str,
    *,
    to: str | None = None,
    migrate: bool = False,
    keep_schema: bool = False,
    dry_run: bool = False,
) -> Plan:
    """The plan to switch ``environment`` back to its previous (or ``to``) release, if the
    database's schema allows: see ``schema_check`` (the decision) and ``schema_state``
    (``--migrate`` downgrades first with the serving release's tool; ``--keep-schema`` is
    audited). Unless ``dry_run``, the caller's right to roll back is checked first."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    artifact_of = session.store.get_artifact
    if not dry_run:
        require(session, "rollback", env.name, pipe=pipe)
    current = session.store.current_deployment(env.name)
    history = [
        d for d in session.store.deployments(env.name, limit=1000) if d.status == "succeeded"
    ]
    candidates = [d for d in history if current is None or d.digest != current.digest]
    if to is not None:  # among what ran here: a tag rebuilt since names one build here
        ran = [a for d in dict.fromkeys(h.digest for h in history) if (a := artifact_of(d))]
        wanted = named(to, ran)
        one_build(to, wanted, hint=f"name it by its digest: `stageline history {env.name}`")
        candidates = [d for d in history if wanted and d.digest == wanted[0].digest]
        if not candidates:
            find_artifact(session, to)  # ArtifactNotFound when nothing has that name
            raise UsageError(
                f"{to} never ran in {env.name}", hint=f"`stageline history {env.name}`"
            )
    if not candidates:
        raise UsageError(f"{env.name} has no earlier release to roll back to")
    artifact = session.store.get_artifact(candidates[0].digest)
    assert artifact is not None
    the_plan = plan(session, pipe, env.name, artifact, kind="rollback")
    schema = schema_state.decide_rollback(
        session, pipe, env, current, artifact, migrate=migrate, keep_schema=keep_schema
    )
    return replace(
        the_plan,
        schema=schema,
        steps=schema_state.plan_steps(pipe, env, schema, the_plan.steps),
        decision=replace(  # the entry decision, if any, and the schema's
            the_plan.decision,
            allowed=the_plan.decision.allowed and schema.allowed,
            reasons=[*the_plan.decision.reasons, *schema.reasons],
        ),
    )


def rollback(
    session: Session,
    environment: str,
    *,
    to: str | None = None,
    progress: Progress | None = None,
    wait: bool = False,
    migrate: bool = False,
    keep_schema: bool = False,
) -> Deployed:
    """Plan and execute a rollback of ``environment`` (:func:`plan_rollback`)."""
    the_plan = plan_rollback(session, environment, to=to, migrate=migrate, keep_schema=keep_schema)
    return execute(session, the_plan, progress, wait=wait)


def ship(session: Session, ref: str, *, progress: Progress | None = None) -> list[Deployed]:
    """Build, deploy to the first environment, and promote through every automatic one.

    Before leaving an environment that has gates, they run; a hold stops the ship there.
    """
    pipe = session.pipeline()
    results = [deploy(session, pipe.first.name, ref, progress=progress)]
    following = pipe.next_after(pipe.first.name)
    while following is not None and following.promotion == "auto":
        previous = results[-1].plan.environment
        if any(gate.kind != "approval" for gate in pipe.environment(previous).gates.values()):
            if progress:
                progress(f"running {previous}'s gates")
            verify(session, previous)
        results.append(promote(session, previous, to=following.name, progress=progress))
        following = pipe.next_after(following.name)
    return results
