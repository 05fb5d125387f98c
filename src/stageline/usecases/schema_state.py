"""Schema-aware rollback, the I/O half: read, record and move a database's schema revision.

- After every deploy (release command run, service started) ``record_after_deploy``
  stores the revision the environment's database is at on the deployment record.
- ``rollback`` asks ``facts_for_rollback`` what the database is at now and what the
  older release ran on, and ``schema_check.decide`` judges (pure).
- With ``--migrate``, ``before_switch`` (called by the deploy stages before anything
  starts) downgrades the live database to the older release's revision with the
  *serving* release's own migration tool, in its own release folder, with the
  environment's variables: that release holds the downgrade scripts, and it is the path
  its ``migrations`` rehearsal proved. The tool's word is not trusted: the revision is
  read again and must be the one asked for. If the switch then fails, ``restore``
  upgrades the database back for the release that still serves.

The migration tool is the one the environment's ``migrations`` gate declares (else the
first such gate of the pipeline: the same service), else it is detected from the
database (``alembic_version`` / ``django_migrations``); none found: no revision. Reading
reuses the rehearsal's migrators (``rehearsal.tools``): one revision reader.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from stageline.config.model import Environment, Pipeline
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.decisions.schema_check import (
    SchemaDecision,
    SchemaFacts,
    decide,
    migrates_at_start,
    plan_lines,
    refusal,
)
from stageline.errors import BackingServiceError, DeployFailed, Refused
from stageline.gates.base import ProcessOutcome
from stageline.gates.migrations import MigrationsOptions
from stageline.identity import current_actor
from stageline.rehearsal.tools import Alembic, Django, Runner, command_migrator, local_runner
from stageline.state import ArtifactRecord, DeploymentRecord, Store
from stageline.targets.base import Prepared, Release, Target
from stageline.usecases.secrets import secrets_for

if TYPE_CHECKING:
    from stageline.usecases.pipeline import Session

Progress = Callable[[str], None]
MIGRATE_TIMEOUT = 600.0
#: the application name the downgrade's sessions carry on the live database
APPLICATION = "stageline-rollback"


# -- which tool, which revision ----------------------------------------------------------


def migrations_options(pipe: Pipeline, env: Environment) -> MigrationsOptions | None:
    """The options of ``env``'s ``migrations`` gate, else of the pipeline's first one."""
    for candidate in (env, *(pipe.environment(name) for name in pipe.names)):
        for gate in candidate.gates.values():
            if gate.kind == "migrations":
                return MigrationsOptions.model_validate(gate.options)
    return None


def detect_tool(url: str) -> str | None:
    """The tool the database's tables show: "alembic", "django", or None for neither."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT to_regclass('alembic_version') IS NOT NULL, "
            "to_regclass('django_migrations') IS NOT NULL"
        ).fetchone()
    if row is None:
        return None
    return "alembic" if row[0] else "django" if row[1] else None


def tool_kind(pipe: Pipeline, env: Environment, url: str) -> str | None:
    options = migrations_options(pipe, env)
    if options is None:
        return detect_tool(url)
    # sql keeps no revision; a custom command's `current` is release code, never run here
    return options.tool if options.tool in ("alembic", "flask-migrate", "django") else None


def _migrator(
    kind: str, options: MigrationsOptions | None, *, run: Runner, cwd: Path,
    env: Mapping[str, str], bin_dir: Path | None,
) -> Alembic | Django:  # fmt: skip
    return command_migrator(
        kind, run=run, cwd=cwd, env=env, bin_dir=bin_dir,
        upgrade=options.upgrade if options else None,
        downgrade=options.downgrade if options else None,
        files=options.files() if options else None,
    )  # fmt: skip


def read_revision(url: str, kind: str | None) -> str | None:
    """The revision the database at ``url`` is at, as ``kind`` spells it (None: no tool)."""
    if kind is None:
        return None
    reader = _migrator(kind, None, run=local_runner(), cwd=Path("."), env={}, bin_dir=None)
    return reader.current(url)


def database_revision(
    pipe: Pipeline, env: Environment, postgres: PostgresFacts | None
) -> str | None:
    """The revision ``env``'s live database is at now (psycopg.Error if unreachable)."""
    if postgres is None:
        return None
    return read_revision(postgres.url, tool_kind(pipe, env, postgres.url))


def record_after_deploy(
    store: Store, deployment: int, pipe: Pipeline, env: Environment, postgres: PostgresFacts | None
) -> str | None:
    """Store the database's revision on ``deployment``; a database that cannot be read
    leaves it unknown (None) and never fails the deploy."""
    try:
        revision = database_revision(pipe, env, postgres)
    except psycopg.Error:
        revision = None
    store.record_schema_revision(deployment, revision)
    return revision


def expected_revision(store: Store, environment: str, digest: str) -> tuple[str | None, str | None]:
    """(revision, environment it was recorded in) when ``digest`` last ran: in
    ``environment`` first, else in any environment; (None, None) if never recorded."""
    for where in (environment, None):
        for record in store.deployments(where, limit=200, digest=digest):
            if record.schema_revision is not None and record.status != "failed":
                return record.schema_revision, record.environment
    return None, None


def newest_rehearsal(store: Store, digest: str) -> str | None:
    """The newest ``migrations`` gate run of ``digest``: "passed in staging: <report>"."""
    for run in store.gate_runs(digest=digest, limit=200):
        if run.kind == "migrations":
            where = run.report_path or f"`stageline verify {run.environment}` ({run.gate})"
            return f"{run.status} in {run.environment} {run.finished_at:%Y-%m-%d %H:%M}: {where}"
    return None


def facts_for_rollback(
    store: Store,
    pipe: Pipeline,
    env: Environment,
    postgres: PostgresFacts | None,
    *,
    serving: DeploymentRecord | None,
    older: ArtifactRecord,
    older_start: str,
) -> SchemaFacts:
    """What ``schema_check.decide`` needs to judge rolling ``env`` back to ``older``."""
    try:
        kind = tool_kind(pipe, env, postgres.url) if postgres is not None else None
        database = read_revision(postgres.url, kind) if postgres is not None else None
    except psycopg.Error as exc:
        raise BackingServiceError(
            f"cannot read the schema revision of {env.name}'s database: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
            hint=f"rollback checks the schema before switching; is {env.name}'s PostgreSQL up?",
        ) from None
    expected, recorded_in = expected_revision(store, env.name, older.digest)
    newer = store.get_artifact(serving.digest) if serving is not None else None
    return SchemaFacts(
        environment=env.name,
        database=database,
        expected=expected,
        recorded_in=recorded_in,
        older=older.version,
        newer=newer.version if newer is not None else "the serving release",
        newer_digest=newer.digest if newer is not None else "",
        tool=kind,
        older_self_migrates=migrates_at_start(older_start),
        rehearsal=newest_rehearsal(store, newer.digest) if newer is not None else None,
    )


def decide_rollback(
    session: Session, pipe: Pipeline, env: Environment, serving: DeploymentRecord | None,
    older: ArtifactRecord, *, migrate: bool, keep_schema: bool,
) -> SchemaDecision:  # fmt: skip
    """Read the facts (the live database's revision, the older release's) and decide."""
    target = session.target(env, pipe.service.name)
    postgres = target.backing()
    _, manifest = session.artifacts.load(older.digest)
    facts = facts_for_rollback(
        session.store, pipe, env, postgres, serving=serving, older=older,
        older_start=manifest.service.start,
    )  # fmt: skip
    return decide(facts, migrate=migrate, keep_schema=keep_schema)


def plan_steps(
    pipe: Pipeline, env: Environment, decision: SchemaDecision, steps: Sequence[str]
) -> list[str]:
    """The rollback plan's steps with the schema's inserted before the start."""
    facts = decision.facts
    commands: list[str] = []
    if decision.action == "migrate" and facts.tool is not None:
        template = _migrator(facts.tool, migrations_options(pipe, env), run=local_runner(),
                             cwd=Path("."), env={}, bin_dir=None)  # fmt: skip
        commands = downgrade_commands(template, facts)
    return [*steps[:-1], *plan_lines(decision, commands), *steps[-1:]]


def audit_decision(store: Store, decision: SchemaDecision, digest: str) -> None:
    """Record a refusal (and raise it) or an accepted schema mismatch (``--keep-schema``)."""
    facts = decision.facts
    data = {"database": facts.database, "expected": facts.expected, "tool": facts.tool}
    if decision.action == "refuse":
        store.append_event(
            "rollback.refused", actor=current_actor(), environment=facts.environment,
            digest=digest, data={**data, "reasons": decision.reasons},
        )  # fmt: skip
        raise refusal(decision)
    if decision.action == "keep_schema":
        store.append_event(
            "rollback.keep_schema", actor=current_actor(), environment=facts.environment,
            digest=digest, data={**data, "serving": facts.newer_digest},
        )  # fmt: skip


# -- moving the live database ------------------------------------------------------------


def target_runner(target: Target, prepared: Prepared) -> Runner:
    """A migrator ``Runner`` that runs the tool through the target, in ``prepared``'s
    release context (its virtualenv, its folder), its sessions named ``APPLICATION``."""

    def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessOutcome:
        del cwd  # the target runs every command in the release's own folder
        variables = {**env, "PGAPPNAME": APPLICATION}
        result = target.run(prepared, shlex.join(argv), variables, timeout=MIGRATE_TIMEOUT)
        return ProcessOutcome(result.returncode, result.output_tail)

    return run


def serving_migrator(
    session: Session, pipe: Pipeline, env: Environment, target: Target, facts: SchemaFacts,
    postgres: PostgresFacts | None,
) -> Alembic | Django:  # fmt: skip
    """The serving (newer) release's migration tool, run in its own release folder with
    the environment's variables (as that release runs with them)."""
    artifacts = session.artifacts
    _, manifest = artifacts.load(facts.newer_digest)
    release = Release(
        env.name, facts.newer_digest, manifest, artifacts.path_for(facts.newer_digest)
    )
    prepared = target.prepare(release)  # its folder is there already: it is serving
    variables = service_environment(
        env, ReleaseFacts(manifest.service.version, facts.newer_digest), port=env.target.port,
        postgres=postgres, secrets=secrets_for(env, session),
        redis=target.redis(start=False) if env.redis is not None else None,
    )  # fmt: skip
    assert facts.tool is not None
    return _migrator(
        facts.tool, migrations_options(pipe, env), run=target_runner(target, prepared),
        cwd=prepared.workdir, env=variables, bin_dir=prepared.bin_dir,
    )  # fmt: skip


def downgrade_commands(migrator: Alembic | Django, facts: SchemaFacts) -> list[str]:
    """What ``--migrate`` runs, for the dry run."""
    assert facts.expected is not None and facts.database is not None
    if isinstance(migrator, Django):
        return migrator.downgrade_commands(facts.database, facts.expected)
    return [migrator.downgrade_command.format(revision=facts.expected)]


def before_switch(
    session: Session, pipe: Pipeline, env: Environment, target: Target,
    decision: SchemaDecision, postgres: PostgresFacts | None, report: Progress,
) -> None:  # fmt: skip
    """Under the deploy lock, before the older release starts: the database must still
    be where the decision saw it; with ``--migrate``, downgrade it and check it moved."""
    facts = decision.facts
    url = postgres.url if postgres is not None else None
    now = read_revision(url, facts.tool) if url is not None else None
    if now != facts.database:
        raise Refused(
            f"{facts.environment}'s database moved from {facts.database} to {now} "
            "since the rollback was planned",
            hint="nothing was switched; run the rollback again",
        )
    if decision.action != "migrate":
        return
    assert url is not None and facts.expected is not None
    store = session.store
    tool = serving_migrator(session, pipe, env, target, facts, postgres)
    report(
        f"downgrading {facts.environment}'s database to {facts.expected} "
        f"with {facts.newer}'s {facts.tool}"
    )
    step = tool.downgrade(url, facts.expected, "rollback downgrade")
    event = {"from": facts.database, "to": facts.expected, "reached": step.reached,
             "command": step.command, "tool": facts.tool, "rehearsal": facts.rehearsal}  # fmt: skip
    if not step.ok or step.reached != facts.expected:
        store.append_event(
            "rollback.migrate_failed", actor=current_actor(), environment=facts.environment,
            digest=facts.newer_digest, data=event,
        )  # fmt: skip
        why = "failed" if not step.ok else f"reported success but the database is at {step.reached}"
        raise DeployFailed(
            facts.environment,
            f"the downgrade to {facts.expected} ({step.command}) {why}",
            log_tail=step.output,
            hint=f"nothing was switched: {facts.newer} keeps serving, the database is at "
            f"{step.reached}",
        )
    store.append_event(
        "rollback.migrate", actor=current_actor(), environment=facts.environment,
        digest=facts.newer_digest, data=event,
    )  # fmt: skip


def restore(
    session: Session, pipe: Pipeline, env: Environment, decision: SchemaDecision,
    report: Progress,
) -> None:  # fmt: skip
    """After ``--migrate`` downgraded the database and the switch failed: if the newer
    release serves again, bring the database back up to its revision."""
    facts = decision.facts
    if decision.action != "migrate":
        return
    target = session.target(env, pipe.service.name)
    running = target.status()
    postgres = target.backing()
    if running is None or running.digest != facts.newer_digest or postgres is None:
        return
    if read_revision(postgres.url, facts.tool) == facts.database:
        return
    report(f"the switch failed: upgrading {facts.environment}'s database back for {facts.newer}")
    tool = serving_migrator(session, pipe, env, target, facts, postgres)
    step = tool.upgrade(postgres.url, "rollback restore")
    session.store.append_event(
        "rollback.schema_restored" if step.ok else "rollback.restore_failed",
        actor=current_actor(), environment=facts.environment, digest=facts.newer_digest,
        data={"to": facts.database, "reached": step.reached, "command": step.command},
    )  # fmt: skip
    if not step.ok or step.reached != facts.database:
        raise DeployFailed(
            facts.environment,
            f"the rollback failed, and upgrading the database back to {facts.database} "
            f"({step.command}) did not work: it is at {step.reached}",
            log_tail=step.output,
            hint=f"{facts.newer} serves on {step.reached}: run `{step.command}` in its release "
            f"folder, or `stageline rollback {facts.environment} --keep-schema`",
        )
