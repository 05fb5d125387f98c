"""deploy, promote, rollback, ship, status, env, history, logs, down, agent."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption, SignWithOption
from stageline.cli.pipeline_view import draw_pipeline
from stageline.errors import DeployFailed, Held, SchemaRefused, UnknownName
from stageline.host import priority
from stageline.identity import current_credentials
from stageline.redact import scrub
from stageline.usecases import deploy as usecases
from stageline.usecases import status as observe
from stageline.usecases.after_deploy import AfterDeploy
from stageline.usecases.pipeline import Session
from stageline.usecases.views import Release, release_json
from stageline.values import label, short

EnvArgument = Annotated[str, typer.Argument(help="An environment name from the pipeline file.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
Force = Annotated[
    bool,
    typer.Option(
        help="Break-glass: enter although the sign-off holds (access rule `force`; audited)."
    ),
]
OverrideFreeze = Annotated[
    bool, typer.Option(help="Enter during a freeze window (access rule; audited).")
]
Wait = Annotated[
    bool,
    typer.Option("--wait", help="Blue/green: wait for the watch window after the switch to end."),
]


def _report(result: usecases.Plan | usecases.Deployed, json: bool) -> int:
    """Render a plan or a deployment. A plan that would hold exits 1, its holds printed
    as a real run prints them (JSON: the plan with ``allowed: false`` and its holds)."""
    plan = result if isinstance(result, usecases.Plan) else result.plan
    if isinstance(result, usecases.Plan):
        if json:
            output.emit_json(_plan_json(plan))
            return 0 if plan.decision.allowed else 1
        output.step(
            f"plan: {plan.kind} {plan.artifact.name} ({label(plan.artifact.digest)}) "
            f"to {plan.environment} ({_verdict(plan)})"
        )
        for number, step in enumerate(plan.steps, start=1):
            output.out.print(f"    {number}. {step}", markup=False)
        if plan.drift:
            output.warning(plan.drift)
        if plan.entry is not None and plan.entry.break_glass:
            _print_holds([(h.reason, "") for h in plan.entry.overridden], "overridden")
        if plan.entry is not None and not plan.entry.allowed:
            raise plan.entry.held(plan.artifact.name)  # its holds: see _holds_printed
        return 0
    if json:
        output.emit_json(
            {
                **_plan_json(plan),
                "deployment": result.deployment.id,
                "status": result.deployment.status,
                "health": result.status.healthy,
                "strategy": result.status.strategy,
                "processes": len(result.status.processes),
                "watching_for": result.status.watching_for,
                "watched": result.watched,
                "watch_detail": result.watch_detail,
                "after_deploy": _checks_json(result.after_deploy),
            }
        )
        return 0
    glass = " as break-glass (audited)" if plan.decision.break_glass else ""
    output.success(
        f"{plan.environment} runs {plan.artifact.name} ({label(plan.artifact.digest)}), "
        f"healthy{glass}"
    )
    if plan.drift:
        output.warning(plan.drift)
    if result.watch_detail:
        output.warning(f"watch window: {result.watch_detail}")
    if result.after_deploy is not None:
        names = ", ".join(check.name for check in result.after_deploy.checks)
        output.out.print(f"    after-deploy checks passed: {names}", markup=False)
    if result.status.watching_for and result.watched is None:
        output.out.print(
            f"    watching {result.status.watching_for:.0f}s: a crash or failed health check "
            "switches the previous release back in (`--wait` waits)"
        )
    return 0


def _verdict(plan: usecases.Plan) -> str:
    if not plan.decision.allowed:
        count = len(plan.decision.reasons)
        return f"held: {count} reason{'s' if count > 1 else ''}"
    if plan.decision.break_glass:
        return "allowed as break-glass: --force overrides every hold below (audited)"
    return "allowed"


def _print_holds(holds: list[tuple[str, str]], label: str = "hold") -> None:
    """Each hold and what clears it, on stderr; text from the store is never markup."""
    colour = "red" if label == "hold" else "yellow"
    for reason, clear in holds:  # a long one wrapped and cut: --json has it whole
        output.labelled(f"  [{colour}]{label}[/] ", reason)
        if clear:
            output.labelled("       [dim]to clear:[/] ", clear)


def _checks_json(checked: AfterDeploy | None) -> list[dict[str, str]] | None:
    if checked is None:
        return None
    return [{"name": c.name, "status": c.status, "summary": c.summary} for c in checked.checks]


def _plan_json(plan: usecases.Plan) -> dict[str, Any]:
    entry = plan.entry
    return {
        "environment": plan.environment,
        "kind": plan.kind,
        **release_json(Release.of(plan.artifact)),
        "allowed": plan.decision.allowed,
        "reasons": plan.decision.reasons,
        "break_glass": plan.decision.break_glass,
        "holds": [{"reason": h.reason, "clear": h.clear} for h in entry.holds] if entry else [],
        "overridden": [h.reason for h in entry.overridden] if entry else [],
        "gated": [g.environment for g in entry.gated] if entry else [],
        "steps": plan.steps,
        "drift": plan.drift,
        "previous": plan.previous.digest if plan.previous else None,
        "schema": plan.schema.as_json() if plan.schema else None,
    }


@contextlib.contextmanager
def _holds_printed(json: bool) -> Iterator[None]:
    """A held entry lists every hold and what clears it before the error line."""
    try:
        yield
    except Held as held:
        if not json:
            _print_holds(held.holds)
        raise


def _yield_cpu_to_serving() -> None:
    """Run the work of preparing a release (uv, pip, build steps, the release command) at a
    lower CPU priority, so on a small host the requests being served win. Only that work:
    the agent, proxies, servers and services this command starts keep its own priority
    (``stageline.host.priority``). ``STAGELINE_DEPLOY_NICE=0`` turns it off."""
    priority.yield_to_serving(priority.increment_from_env())


def deploy(
    environment: EnvArgument,
    ref: Annotated[str, typer.Argument(help="A git tag or ref (built once if new), or a digest.")],
    force: Force = False,
    override_freeze: OverrideFreeze = False,
    dry_run: DryRun = False,
    wait: Wait = False,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """Deploy REF to ENVIRONMENT if the sign-off of every gated environment before it
    allows (new artifacts enter at the first environment); otherwise hold, every reason."""
    _yield_cpu_to_serving()
    with _holds_printed(json), Session.open(directory) as session:
        with output.progress(f"deploying {ref} to {environment}") as r:
            plan = usecases.plan_deploy(
                session,
                environment,
                ref,
                force=force,
                override_freeze=override_freeze,
                dry_run=dry_run,
                progress=None if json else r,
                credentials=current_credentials(sign_with),
            )
            result = (
                plan if dry_run else usecases.execute(session, plan, None if json else r, wait=wait)
            )
        return _report(result, json)


def promote(
    source: Annotated[str, typer.Argument(help="The environment whose release moves on.")],
    to: Annotated[str | None, typer.Option(help="Target environment (default: the next).")] = None,
    override_freeze: OverrideFreeze = False,
    force: Force = False,
    dry_run: DryRun = False,
    wait: Wait = False,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """Deploy the digest running in SOURCE to the next environment, unchanged, if the
    sign-off (gates, approvals) of every gated environment before it and its freezes
    allow; otherwise hold it, with every reason."""
    _yield_cpu_to_serving()
    with _holds_printed(json), Session.open(directory) as session:
        with output.progress(f"promoting {source}") as r:
            plan = usecases.plan_promote(
                session,
                source,
                to=to,
                dry_run=dry_run,
                override_freeze=override_freeze,
                force=force,
                credentials=current_credentials(sign_with),
            )
            result = (
                plan if dry_run else usecases.execute(session, plan, None if json else r, wait=wait)
            )
        return _report(result, json)


def rollback(
    environment: EnvArgument,
    to: Annotated[
        str | None,
        typer.Option(help="A release that ran there: its tag (v1.2.0) or digest."),
    ] = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="If the database is ahead: downgrade it first with the serving release's "
            "migration tool (audited).",
        ),
    ] = False,
    keep_schema: Annotated[
        bool,
        typer.Option(
            "--keep-schema",
            help="If the database is ahead: run the older release on it as it is (audited).",
        ),
    ] = False,
    dry_run: DryRun = False,
    wait: Wait = False,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Go back to the previous (or a named) release; no rebuild, no network. Refused when
    the database's schema is not the one that release ran on, unless --migrate or
    --keep-schema says what to do."""
    _yield_cpu_to_serving()
    try:
        with (
            Session.open(directory) as session,
            output.progress(f"rolling back {environment}") as r,
        ):
            plan = usecases.plan_rollback(
                session,
                environment,
                to=to,
                dry_run=dry_run,
                migrate=migrate,
                keep_schema=keep_schema,
            )
            result = (
                plan if dry_run else usecases.execute(session, plan, None if json else r, wait=wait)
            )
    except SchemaRefused as refused:
        if not json:
            for choice in refused.choices:
                output.labelled("  [yellow]choice[/] ", choice)
        raise
    except DeployFailed as failed:  # the release that would not start: say why at once
        if failed.log_tail and not json:
            output.err.print(f"[dim]{output.safe(scrub(failed.log_tail))}[/]", soft_wrap=True)
        raise
    _report(result, json)


def ship(
    ref: Annotated[str, typer.Argument(help="A git tag such as v1.7.0-rc1.")],
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Build REF, deploy it to the first environment, promote through every automatic one."""
    _yield_cpu_to_serving()
    with (
        _holds_printed(json),
        Session.open(directory) as session,
        output.progress(f"shipping {ref}") as r,
    ):
        results = usecases.ship(session, ref, progress=None if json else r)
    for result in results:
        _report(result, json)


def status(directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """Draw the pipeline: each environment's version, digest, health, age and URL."""
    with Session.open(directory) as session:
        view = observe.status(session)
    if json:
        output.emit_json(view.to_json())  # the same document as the dashboard's /api/pipeline
        return
    draw_pipeline(view)
    if view.reviews:
        count = len(view.reviews)
        output.out.print(
            f"{count} review environment{'s' if count > 1 else ''} open: `stageline review list`"
        )


def env(
    environment: EnvArgument, directory: DirOption = Path("."), json: JsonOption = False
) -> None:
    """Print the configuration ENVIRONMENT's service receives (secret values masked)."""
    with Session.open(directory) as session:
        variables = observe.environment_config(session, environment)
    if json:
        output.emit_json(variables)
        return
    table = Table("variable", "value")
    for name in sorted(variables):
        output.add_row(table, name, variables[name])
    output.out.print(table)


def history(
    environment: Annotated[str | None, typer.Argument(help="Only this environment.")] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """List deployments, newest first."""
    with Session.open(directory) as session:
        rows = observe.history(session, environment)
    if json:
        output.emit_json([{**vars(r), **release_json(release)} for r, release in rows])
        return
    table = Table(
        "#", "environment", "kind", "release", "digest", "status", "by", "started", "detail"
    )
    for column, width in zip(table.columns, (3, 11, 11, 10, 12, 9, 8, 14, 10), strict=True):
        column.min_width = width
    table.columns[6].max_width = 18
    table.columns[6].overflow = "ellipsis"
    for r, release in rows:
        output.add_row(
            table,
            str(r.id),
            r.environment,
            "break-glass" if r.kind == "force" else r.kind,
            release.label or "?",
            short(r.digest),
            r.status,
            r.actor,
            f"{r.started_at:%m-%d %H:%M:%S}",
            _first_line(r.detail),
        )
    output.out.print(table)


def _first_line(text: str | None, width: int = 60) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:width] if lines else ""


def logs(
    environment: EnvArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
    process: Annotated[
        str,
        typer.Option("--process", "-p", help="A process type of [service.processes]."),
    ] = "web",
    directory: DirOption = Path("."),
) -> None:
    """Print the service's log in ENVIRONMENT.

    The web process's by default; another process type's with --process TYPE."""
    with Session.open(directory) as session:
        pipe = session.pipeline()
        kinds = list(pipe.service.process_types)
        if process not in kinds:
            raise UnknownName("process type", process, kinds, hint="see [service.processes]")
        target = session.target(pipe.environment(environment), pipe.service.name)
        target.status()  # a command that needs the agent brings a dead one back
        path = target.log_path(process)
    if not path.is_file():
        output.warning(f"no {process} log yet for {environment}")
        return
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:]:
            output.out.print(line.rstrip("\n"), markup=False)
        while follow:
            line = handle.readline()
            if line:
                output.out.print(line.rstrip("\n"), markup=False)
            else:
                time.sleep(0.2)


def down(
    environment: Annotated[str | None, typer.Argument(help="Only this environment.")] = None,
    directory: DirOption = Path("."),
) -> None:
    """Stop environments (all by default) and their PostgreSQL servers; then the agent."""
    with Session.open(directory) as session:
        stopped = observe.down(session, environment)
    output.success(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def agent(directory: DirOption = Path(".")) -> None:
    """Run the host agent in the foreground (the CLI starts it by itself when needed)."""
    from stageline.agent.server import run_agent
    from stageline.host.workspace import Workspace

    run_agent(Workspace.at(directory).home)
