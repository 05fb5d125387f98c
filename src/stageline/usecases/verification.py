"""Verify, approve, reject, and the sign-off facts a promotion is decided from.

``verify`` runs an environment's gates against the digest running there and stores each
result bound to that digest; ``approve`` / ``reject`` record people's verdicts under the
environment's approval rule; ``signoff_for`` gathers the facts and calls the pure
``signoff.sign_off``. Deciding lives in ``signoff``; this module only gathers and stores.
Every gate run is stored with the pin of the gate configuration it ran under
(``stageline.decisions.pins``), so a sign-off can tell when the pipeline file changed since.
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
from stageline.decisions.pins import GatePin, pin_of
from stageline.decisions.signoff import (
    ApprovalRule,
    GateRun,
    SignOff,
    SignOffFacts,
    Verdict,
    may_review,
    sign_off,
)
from stageline.errors import NotServing, Refused, UnknownName, UsageError
from stageline.gates.approval import ApprovalOptions
from stageline.gates.base import GateContext, GateResult
from stageline.gates.registry import parse_options
from stageline.gates.runner import run_gates
from stageline.host.outbox import outbox_path
from stageline.identity import Credentials, Proof, current_actor, current_credentials, prove
from stageline.limits import NOTE_LIMIT, check_length
from stageline.redact import scrub, scrub_progress, scrub_result, scrub_tree
from stageline.signing import Statement, now_text
from stageline.state import DeploymentRecord, GateRunRecord, Store, VerdictKind, VerdictRecord
from stageline.state.locks import environment_lock
from stageline.targets.base import Prepared, Release, Target
from stageline.usecases import audit
from stageline.usecases.gating import GateViews, gate_views
from stageline.usecases.pipeline import Session, find_artifact
from stageline.usecases.secrets import secrets_for
from stageline.usecases.settling import live_digest, reconcile
from stageline.values import label

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


def serving(session: Session, env: Environment) -> DeploymentRecord:
    """The deployment serving in ``env`` now, as its target sees it.

    The store's latest succeeded deployment serves, unless a deploy was killed after
    its switch: the target then serves the new digest while that deployment is still
    ``in_progress``. It is settled first, under the deploy lock, as the next deploy would
    (``settling.reconcile``); a target serving a digest no deployment records is refused."""
    current = session.store.current_deployment(env.name)
    live = live_digest(session, env)
    if live is None or (current is not None and live == current.digest):
        return _running(session, env)
    with session.store.lock(environment_lock(env.name), holder=current_actor()):
        reconcile(session, env, session.pipeline().service.name)
    settled = session.store.current_deployment(env.name)
    if settled is None or settled.digest != live:
        recorded = label(settled.digest) if settled else "nothing"
        raise Refused(
            f"{env.name} serves {label(live)} but its last deployment recorded {recorded}",
            hint=f"deploy or roll back {env.name} to settle what serves there",
        )
    return settled


def bound(session: Session, env: Environment, digest: str | None, action: str) -> DeploymentRecord:
    """The serving deployment a decision (``action``: approve, reject, verify) is for;
    ``digest`` (full or a unique prefix), when given, must be the one serving."""
    current = serving(session, env)
    if digest is not None:
        named = named_digest(session, digest)
        if named != current.digest:
            raise NotServing(env.name, named, current.digest, action)
    return current


def named_digest(session: Session, text: str) -> str:
    """The stored artifact digest ``text`` (``sha256:HEX`` or HEX, 6 or more hex
    characters) names; ambiguous or unknown prefixes are refused."""
    hexpart = text.strip().removeprefix("sha256:")
    if not 6 <= len(hexpart) <= 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise UsageError(
            f"{text!r} is not a digest",
            hint="give sha256:HEX, or at least 6 of its hex characters (`stageline status`)",
        )
    return find_artifact(session, "sha256:" + hexpart).digest


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
    digest: str | None = None,
) -> VerifyReport:
    """Run ``environment``'s gates (independent ones in parallel) against the digest
    serving there (``digest``, when given, must be it). The runs are recorded only if
    that digest still serves when the gates are done."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    checks = _checks(env, gate)
    pin = pin_of(env, _groups(pipe))  # the configuration these gates run under
    current = bound(session, env, digest, "verify")
    _, manifest = session.artifacts.load(current.digest)
    target = session.target(env, manifest.service.name)
    release = Release(
        env.name, current.digest, manifest, session.artifacts.path_for(current.digest)
    )
    prepared = target.prepare(release)
    variables = service_environment(
        env,
        ReleaseFacts(manifest.service.version, current.digest),
        port=env.target.port,
        postgres=target.backing(start=False),
        secrets=secrets_for(env, session),
        redis=target.redis(start=False) if env.redis is not None else None,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    evidence_root = session.workspace.home / "envs" / env.name / "evidence" / stamp
    started = datetime.now(UTC)
    deployed_at = _running_since(session, env.name, current.digest)
    make_context = context_maker(
        session,
        env,
        target,
        prepared,
        variables,
        evidence_root,
        deployed_at,
        gate_views(session, pipe),
    )
    results = run_gates(list(checks.items()), make_context, progress=scrub_progress(progress))
    results = {name: scrub_result(result) for name, result in results.items()}
    scrub_tree(evidence_root)  # secrets a gate printed into its evidence files
    live = live_digest(session, env)
    if live is not None and live != current.digest:
        raise NotServing(env.name, current.digest, live, "record gate runs of")
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
    target: Target,
    prepared: Prepared,
    variables: Mapping[str, str],
    evidence_root: Path,
    deployed_at: datetime | None,
    views: GateViews | None = None,
) -> Callable[[str, Gate], GateContext]:
    """What each gate is given to check ``prepared`` as it runs in ``env`` on ``target``
    (its URL, the service's variables, an evidence folder under ``evidence_root``, and
    ``views``: the pipeline, store and targets, built from ``session`` now if not given)."""
    url = target.url()
    manifest = prepared.release.manifest
    views = views if views is not None else gate_views(session)

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
                # where the service writes: its own choice, else the environment's file
                "STAGELINE_OUTBOX": variables.get("STAGELINE_OUTBOX")
                or str(outbox_path(session.workspace.home, env.name)),
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
            pipeline=views.pipeline,
            store=views.store,
            targets=views.targets,
            artifact=prepared.release.artifact_path,
            releases=views.releases,
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
    digest: str | None = None,
    credentials: Credentials | None = None,
) -> VerdictRecord:
    """Approve or reject the digest serving in ``environment``, under its approval rule;
    ``digest`` (full or a unique prefix), when given, must be the one serving.

    ``person`` is someone the caller has already authenticated (the dashboard's session);
    without one, the CLI's ``credentials`` (default: ``identity.current_credentials``)
    must prove who gives the verdict (``identity.prove``). The proof is recorded with the
    ``approve.given`` / ``reject.given`` event, so the hash chain covers it."""
    check_length("note" if kind == "approve" else "reason", note, NOTE_LIMIT)
    pipe = session.pipeline()
    env = pipe.environment(environment)
    rule = approval_rule(env)
    if rule is None:
        raise UsageError(
            f"{env.name} has no approval gate: nobody signs off there",
            hint=f'add [environments.{env.name}.gates.signoff] with kind = "approval"',
        )
    current = bound(session, env, digest, kind)
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
    return session.store.add_verdict(
        env.name, current.digest, person=who, kind=kind, note=note, proof=proof.fields()
    )


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
    digest: str | None = None,
    credentials: Credentials | None = None,
) -> int:
    """Withdraw the rejection(s) of the proven person (see :func:`give_verdict`) of the
    digest serving in ``environment``."""
    pipe = session.pipeline()
    env = pipe.environment(environment)
    current = bound(session, env, digest, "withdraw the rejection of")
    proof = _proof(
        session, pipe, "reject.withdraw", env.name, current.digest, "", person, credentials
    )
    who = proof.person
    return session.store.withdraw_verdicts(
        env.name, current.digest, person=who, kind="reject", proof=proof.fields()
    )


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
    check = audit.trusted_records(session.store)
    runs = tuple(
        GateRun(r.gate, r.environment, r.digest, r.status, r.finished_at, r.summary, _pin(r))
        for r in session.store.gate_runs(env.name, digest)
        if ("gate_runs", r.id) in check.trusted
    )
    verdicts = tuple(
        Verdict(v.person, v.environment, v.digest, v.kind, v.at, v.note, v.withdrawn_at)
        for v in session.store.verdicts(env.name, digest)
        if ("verdicts", v.id) in check.trusted
    )
    bad = tuple(
        p.message for p in check.problems if p.environment == env.name and p.digest == digest
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
        bad_records=bad,
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
