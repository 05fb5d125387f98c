"""Verify after every switch: the environment's after-deploy checks, and a switch back.

Deploy, promote and rollback call :func:`check_after_switch` right after the new release
took over, with the target that started it. The checks are the environment's
``after_deploy`` gates (``Environment.after_deploy_checks``: every ``http`` gate unless
the key names some, none for ``[]``), run by the gates' own runner against the public
URL while the agent still watches the new release and keeps the previous one's spec.

A check that does not pass switches the previous release back, as a crash in the watch
window does (``Target.switch_back``; blue/green: the agent's ``revert`` order, which
records the deployment ``rolled_back`` with the reason; restart: the previous release
starts again, and the deployment is recorded ``rolled_back`` here). Each check's time is
cut to what is left of the watch window (less :data:`REVERT_MARGIN`), so a check that
hangs still leaves time to switch back. Every outcome is an audit event:
``after_deploy.passed``, or ``after_deploy.failed`` with the check, its summary and
whether the previous release serves again. Evidence goes to
``envs/<env>/evidence/<time>-after-deploy/<gate>/``.

These checks only send the environment's own declared HTTP requests to its public URL,
as a user would: they run no release code and open no database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from stageline.agent.record import settle
from stageline.config.model import Environment, Gate
from stageline.errors import DeployFailed
from stageline.gates.base import GateResult
from stageline.gates.runner import run_gates
from stageline.identity import current_actor
from stageline.redact import scrub_result, scrub_tree
from stageline.targets.base import DeploymentId, Prepared, ServiceStatus, SwitchBack, Target
from stageline.usecases.pipeline import Session
from stageline.usecases.verification import context_maker

Progress = Callable[[str], None]
#: seconds of the watch window kept free for the switch back
REVERT_MARGIN = 2.0


@dataclass(frozen=True)
class CheckRun:
    """One after-deploy check's outcome."""

    name: str
    status: str  # passed / failed / error
    summary: str


@dataclass(frozen=True)
class AfterDeploy:
    """The checks that ran after a switch, and the switch back if one failed."""

    checks: tuple[CheckRun, ...]
    switched_back: SwitchBack | None = None

    @property
    def failed(self) -> CheckRun | None:
        """The first check (in the order configured) that did not pass."""
        return next((check for check in self.checks if check.status != "passed"), None)

    @property
    def reason(self) -> str:
        failed = self.failed
        if failed is None:
            return ""
        return f"after-deploy check `{failed.name}` {failed.status}: {failed.summary}"


def budgets(
    checks: Mapping[str, Gate], status: ServiceStatus, margin: float = REVERT_MARGIN
) -> dict[str, Gate]:
    """``checks`` with each timeout cut to the watch window left (blue/green), so the
    switch back still finds the window open; at least one second each. Without a window
    (none was opened: a swarm environment's first release, or ``watch = 0``) there is
    nothing to switch back to, and each check keeps its own timeout."""
    if status.strategy != "blue-green" or status.watching_for <= 0:
        return dict(checks)
    left = max(1, int(status.watching_for - margin))
    return {
        name: gate.model_copy(update={"timeout": min(gate.timeout, left)})
        for name, gate in checks.items()
    }


def check_after_switch(
    session: Session,
    env: Environment,
    prepared: Prepared,
    variables: Mapping[str, str],
    target: Target,
    status: ServiceStatus,
    ref: DeploymentId,
    report: Progress,
) -> AfterDeploy | None:
    """Run ``env``'s after-deploy checks against the release ``target`` just started; on a
    failure switch the previous release back. None when ``env`` has no checks."""
    checks = env.after_deploy_checks
    if not checks:
        return None
    report(f"checking {env.name} after the switch: {', '.join(checks)}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    evidence = session.workspace.home / "envs" / env.name / "evidence" / f"{stamp}-after-deploy"
    make_context = context_maker(
        session, env, target, prepared, variables, evidence, deployed_at=datetime.now(UTC)
    )
    results = run_gates(list(budgets(checks, status).items()), make_context)
    scrub_tree(evidence)
    runs = tuple(_run(name, scrub_result(results[name])) for name in checks)
    outcome = AfterDeploy(runs)
    if outcome.failed is None:
        _audit(session, env, prepared, "after_deploy.passed", ref, checks=list(checks))
        return outcome
    report(f"{outcome.reason}; switching the previous release back")
    back = target.switch_back(outcome.reason)
    if back.done:
        settle(
            session.store, env.name, ref.id, "rolled_back", outcome.reason, actor=current_actor()
        )
        report("switched back: the previous release serves again")
    failed = outcome.failed
    _audit(
        session, env, prepared, "after_deploy.failed", ref,
        check=failed.name, summary=failed.summary, switched_back=back.done, why=back.why,
    )  # fmt: skip
    return AfterDeploy(runs, back)


def kept_serving(env: Environment, version: str, outcome: AfterDeploy | None) -> None:
    """Raise if a check failed but the release could not be switched away (it serves)."""
    if outcome is None or outcome.failed is None or outcome.switched_back is None:
        return
    if outcome.switched_back.done:
        return
    raise DeployFailed(
        env.name,
        f"{version} in {env.name}: {outcome.reason}; it keeps serving: {outcome.switched_back.why}",
        hint=f"deploy a fix, or `stageline rollback {env.name}`",
    )


def _run(name: str, result: GateResult) -> CheckRun:
    return CheckRun(name, result.status, result.summary)


def _audit(
    session: Session,
    env: Environment,
    prepared: Prepared,
    kind: str,
    ref: DeploymentId,
    **data: object,
) -> None:
    session.store.append_event(
        kind,
        actor=current_actor(),
        environment=env.name,
        digest=prepared.release.digest,
        data={"deployment": ref.id, **data},
    )
