"""Verify, approve, reject, and the sign-off facts a promotion is decided from.

``verify`` runs an environment's gates against the digest running there and stores each
result bound to that digest; ``approve`` / ``reject`` record people's verdicts under the
environment's approval rule; ``signoff_for`` gathers the facts and calls the pure
``signoff.sign_off``. Deciding lives in ``signoff``; this module only gathers and stores.
Every gate run is stored with the pin of the gate configuration it ran under
(``stageline.pins``), so a sign-off can tell when the pipeline file changed since.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stageline.config.model import Environment, Gate, Pipeline
from stageline.config.resolve import ReleaseFacts, service_environment
from stageline.errors import Refused, UnknownName, UsageError
from stageline.gates.approval import ApprovalOptions
from stageline.gates.base import GateContext, GateResult
from stageline.gates.registry import parse_options
from stageline.gates.runner import run_gates
from stageline.identity import Credentials, Proof, current_actor, current_credentials, prove
from stageline.outbox import outbox_path
from stageline.pins import GatePin, pin_of
from stageline.pipeline import Session
from stageline.redact import scrub, scrub_progress, scrub_result, scrub_tree
from stageline.secrets import secrets_for
from stageline.signing import Statement, now_text
from stageline.signoff import (
    ApprovalRule,
    GateRun,
    SignOff,
    SignOffFacts,
    Verdict,
    may_review,
    sign_off,
)
from stageline.state import DeploymentRecord, GateRunRecord, Store, VerdictKind, VerdictRecord
from stageline.targets import for_environment
from stageline.targets.backing import postgres_facts
from stageline.targets.base import Prepared, Release

GateProgress = Callable[[str, GateResult | None], None]


@dataclass(frozen=True)
class VerifyReport:
    environment: str
    digest: str
    version: str
    runs: dict[str, GateRunRecord]
    #: the same outcomes as the gates returned them (for JUnit and JSON reports)
    results: dict[str, GateResult]

    @property
    def passed(self) -> bool:
        return all(run.status == "passed" for run in self.runs.values())


def _running(session: Session, env: Environment) -> DeploymentRecord:
    current = session.store.current_deployment(env.name)
    if current is None:
        raise UsageError(
            f"nothing is deployed in {env.name}", hint=f"`stageline deploy {env.name} TAG` first"
        )
    return current


def _checks(env: Environment, only: str | None) -> dict[str, Gate]:
    """The gates ``verify`` runs: every gate but approvals (people give those)."""
    checks = {name: gate for name, gate in env.gates.items() if gate.kind != "approval"}
    if only is not None:
        if only not in env.gates:
            raise UnknownName("gate", only, list(env.gates), hint=f"gates of {env.name}")
        checks = {only: env.gates[only]} if only in checks else {}
    if not checks:
        raise UsageError(
            f"{env.name} has no gates to run" + (f" named {only!r}" if only else ""),
            hint=f"declare them as [environments.{env.name}.gates.NAME] in the pipeline file",
        )
    return checks


def verify(
    session: Session,
    environment: str,
    *,
    gate: str | None = None,
    progress: GateProgress | None = None,
) -> VerifyReport:
    """Run ``environment``'s gates (independent ones in parallel) against its digest."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    checks = _checks(env, gate)
    pin = pin_of(env, _groups(pipe))  # the configuration these gates run under
    current = _running(session, env)
    _, manifest = session.artifacts.load(current.digest)
    target = for_environment(session.workspace.home, env, manifest.service.name)
    release = Release(
        env.name, current.digest, manifest, session.artifacts.path_for(current.digest)
    )
    prepared = target.prepare(release)
    variables = service_environment(
        env,
        ReleaseFacts(manifest.service.version, current.digest),
        port=env.target.port,
        postgres=postgres_facts(session.workspace.home, env, manifest.service.name),
        secrets=secrets_for(env, session),
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    evidence_root = session.workspace.home / "envs" / env.name / "evidence" / stamp
    started = datetime.now(UTC)
    deployed_at = _running_since(session, env.name, current.digest)
    make_context = context_maker(session, env, prepared, variables, evidence_root, deployed_at)
    results = run_gates(list(checks.items()), make_context, progress=scrub_progress(progress))
    results = {name: scrub_result(result) for name, result in results.items()}
    scrub_tree(evidence_root)  # secrets a gate printed into its evidence files
    actor = current_actor()
    runs: dict[str, GateRunRecord] = {}
    for name, result in results.items():
        runs[name] = session.store.record_gate_run(
            env.name,
            current.digest,
            name,
            kind=checks[name].kind,
            status=result.status,
            started_at=started,
            duration=result.duration,
            summary=result.summary,
            evidence=result.evidence,
            report_path=str(result.report) if result.report else None,
            actor=actor,
            pin=pin.digest,
            pin_parts=pin.parts,
        )
        session.store.append_event(
            f"gate.{result.status}",
            actor=actor,
            environment=env.name,
            digest=current.digest,
            data={"gate": name, "summary": result.summary, "run": runs[name].id},
        )
        audit_waivers(session.store, runs[name], actor=actor)
    return VerifyReport(env.name, current.digest, manifest.service.version, runs, results)


def audit_waivers(store: Store, run: GateRunRecord, *, actor: str) -> None:
    """Append ``gate.waived`` when ``run``'s evidence lists waivers (the `migrations` gate's
    findings passed by a waiver, with its reason and expiry): the audit log says which."""
    waived = [str(line) for line in run.evidence.get("waivers") or []]
    if waived:
        store.append_event(
            "gate.waived",
            actor=actor,
            environment=run.environment,
            digest=run.digest,
            data={"gate": run.gate, "run": run.id, "waivers": waived[:20]},
        )


def context_maker(
    session: Session,
    env: Environment,
    prepared: Prepared,
    variables: Mapping[str, str],
    evidence_root: Path,
    deployed_at: datetime | None,
) -> Callable[[str, Gate], GateContext]:
    """What each gate is given to check ``prepared`` as it runs in ``env`` (its public
    URL, the service's variables, an evidence folder under ``evidence_root``)."""
    url = f"http://127.0.0.1:{env.target.port}"
    manifest = prepared.release.manifest

    def make_context(name: str, config: Gate) -> GateContext:
        folder = evidence_root / name
        folder.mkdir(parents=True, exist_ok=True)
        return GateContext(
            name=name,
            environment=env,
            url=url,
            health_path=manifest.service.health,
            variables={
                **variables,
                "STAGELINE_URL": url,
                "STAGELINE_OUTBOX": str(outbox_path(session.workspace.home, env.name)),
            },
            digest=prepared.release.digest,
            version=manifest.service.version,
            bundle=prepared.workdir,
            python=str(prepared.bin_dir / "python"),
            evidence_dir=folder,
            root=session.workspace.root,
            home=session.workspace.home,
            deployed_at=deployed_at,
            deadline=time.monotonic() + config.timeout,
            log=functools.partial(_append, folder / "gate.log"),
        )

    return make_context


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(scrub(line.rstrip("\n")) + "\n")


def _running_since(session: Session, environment: str, digest: str) -> datetime | None:
    """When ``digest`` started its current uninterrupted run in ``environment``."""
    since: datetime | None = None
    for deployment in session.store.deployments(environment, limit=1000):  # newest first
        if deployment.status != "succeeded":
            continue
        if deployment.digest != digest:
            break
        since = deployment.finished_at or deployment.started_at
    return since


# -- people: approve and reject ----------------------------------------------------------------


def approval_rule(env: Environment) -> ApprovalRule | None:
    """The environment's approval gate as a rule, or None when nobody signs off there."""
    for gate in env.gates.values():
        if gate.kind == "approval":
            options = parse_options("approval", gate.options)
            assert isinstance(options, ApprovalOptions)
            return ApprovalRule(
                required=options.required,
                reviewers=tuple(options.reviewers),
                self_approval=options.self_approval,
            )
    return None


def _deployers(session: Session, environment: str, digest: str) -> frozenset[str]:
    found = session.store.deployments(environment, 1000, digest=digest, status="succeeded")
    return frozenset(d.actor for d in found)


def _groups(pipe: Pipeline) -> dict[str, tuple[str, ...]]:
    return {name: tuple(members) for name, members in pipe.people.groups.items()}


def give_verdict(
    session: Session,
    environment: str,
    kind: VerdictKind,
    *,
    note: str = "",
    person: str | None = None,
    credentials: Credentials | None = None,
) -> VerdictRecord:
    """Approve or reject the digest running in ``environment``, under its approval rule.

    ``person`` is someone the caller has already authenticated (the dashboard's session);
    without one, the CLI's ``credentials`` (default: ``identity.current_credentials``)
    must prove who gives the verdict (``identity.prove``). The proof is recorded with the
    ``approve.given`` / ``reject.given`` event."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    rule = approval_rule(env)
    if rule is None:
        raise UsageError(
            f"{env.name} has no approval gate: nobody signs off there",
            hint=f'add [environments.{env.name}.gates.signoff] with kind = "approval"',
        )
    current = _running(session, env)
    proof = _proof(session, pipe, kind, env.name, current.digest, note, person, credentials)
    who = proof.person
    refusal = may_review(who, rule, _groups(pipe), _deployers(session, env.name, current.digest))
    if refusal is not None:
        session.store.append_event(
            f"{kind}.refused",
            actor=who,
            environment=env.name,
            digest=current.digest,
            data={"reason": refusal},
        )
        raise Refused(
            refusal, hint=f"reviewers for {env.name}: {', '.join(rule.reviewers) or 'anyone'}"
        )
    verdict = session.store.add_verdict(env.name, current.digest, person=who, kind=kind, note=note)
    session.store.append_event(
        f"{kind}.given",
        actor=who,
        environment=env.name,
        digest=current.digest,
        data={"note": note, "verdict": verdict.id, **proof.fields()},
    )
    return verdict


def _proof(
    session: Session,
    pipe: Pipeline,
    action: str,
    environment: str,
    digest: str,
    note: str,
    person: str | None,
    credentials: Credentials | None,
) -> Proof:
    """Who gives this verdict, proven (``identity.prove``); a refusal is audited."""
    if credentials is None:
        credentials = Credentials(vouched=person) if person else current_credentials()
    claimed = person or current_actor()
    statement = Statement(action, environment, digest, claimed, now_text(), note)
    try:
        return prove(session.store, pipe, statement, credentials)
    except Refused as exc:
        session.store.append_event(
            f"{action.partition('.')[0]}.refused",
            actor=claimed,
            environment=environment,
            digest=digest,
            data={"reason": str(exc)},
        )
        raise


def withdraw_rejection(
    session: Session,
    environment: str,
    *,
    person: str | None = None,
    credentials: Credentials | None = None,
) -> int:
    """Withdraw the rejection(s) of the proven person (see :func:`give_verdict`)."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current = _running(session, env)
    proof = _proof(
        session, pipe, "reject.withdraw", env.name, current.digest, "", person, credentials
    )
    who = proof.person
    count = session.store.withdraw_verdicts(env.name, current.digest, person=who, kind="reject")
    if count:
        session.store.append_event(
            "reject.withdrawn",
            actor=who,
            environment=env.name,
            digest=current.digest,
            data=proof.fields(),
        )
    return count


# -- the sign-off facts ------------------------------------------------------------------------


def signoff_for(
    session: Session,
    source: str,
    target: str,
    *,
    override_freeze: bool = False,
    now: datetime | None = None,
) -> SignOff:
    """Gather the facts for promoting ``source``'s digest into ``target`` and decide."""
    pipe = session.pipeline()
    env = pipe.environment(source)
    into = pipe.environment(target)
    current = _running(session, env)
    facts = signoff_facts(session, pipe, env, current.digest, into.name, now=now)
    return sign_off(replace(facts, freezes=tuple(into.freeze), override_freeze=override_freeze))


def signoff_facts(
    session: Session,
    pipe: Pipeline,
    env: Environment,
    digest: str,
    target: str,
    *,
    now: datetime | None = None,
) -> SignOffFacts:
    """The facts of ``env``'s sign-off of ``digest`` (whether it runs there now or not),
    with the pin of ``env``'s gate configuration as the pipeline file reads now, and no
    freeze windows (the caller adds the target's)."""
    required = tuple(name for name, gate in env.gates.items() if gate.kind != "approval")
    runs = tuple(
        GateRun(r.gate, r.environment, r.digest, r.status, r.finished_at, r.summary, _pin(r))
        for r in session.store.gate_runs(env.name, digest)
    )
    verdicts = tuple(
        Verdict(v.person, v.environment, v.digest, v.kind, v.at, v.note, v.withdrawn_at)
        for v in session.store.verdicts(env.name, digest)
    )
    return SignOffFacts(
        now=now or datetime.now(UTC),
        source=env.name,
        target=target,
        digest=digest,
        deployed_by=_deployers(session, env.name, digest),
        required_gates=required,
        runs=runs,
        rule=approval_rule(env),
        verdicts=verdicts,
        groups=_groups(pipe),
        ttl=timedelta(hours=env.ttl_hours),
        freezes=(),
        pin=pin_of(env, _groups(pipe)),
    )


def _pin(run: GateRunRecord) -> GatePin | None:
    if run.pin is None or run.pin_parts is None:
        return None
    return GatePin(run.pin, run.pin_parts)


def refresh_soak(session: Session, environment: str) -> None:
    """Re-run the environment's ``soak`` gates: their verdict depends on the time now."""
    env = session.pipeline().environment(environment)
    if any(gate.kind == "soak" for gate in env.gates.values()):
        for name, gate in env.gates.items():
            if gate.kind == "soak":
                verify(session, env.name, gate=name)
