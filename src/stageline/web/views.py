"""What the dashboard shows, gathered as plain JSON-ready data (the pages and the API share it).

Every query here is bounded: the latest deployment per environment, one digest's runs,
verdicts and events, ``limit`` rows of history. Secret values never leave: evidence,
summaries, notes and event data go through ``stageline.redact`` first.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from stageline.audit import describe
from stageline.config.model import Environment, Pipeline
from stageline.errors import ArtifactNotFound, StagelineError, UsageError
from stageline.parity.report import metrics_for
from stageline.pipeline import Session
from stageline.redact import scrub, scrub_value
from stageline.state import ArtifactRecord, DeploymentRecord
from stageline.state.models import DeploymentStatus
from stageline.verification import approval_rule, signoff_for

Json = dict[str, Any]
#: sign-off's gate states, as the diamond shows them
_GATE_STATE = {"passed": "passed", "failed": "failed", "error": "error"}


def short(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else ""


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def age(when: datetime | None, now: datetime | None = None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago."""
    if when is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def artifact_of(session: Session, digest: str) -> ArtifactRecord | None:
    """An artifact's record; artifacts never change, so a dashboard session remembers them."""
    seen: dict[str, ArtifactRecord] | None = getattr(session, "artifacts_seen", None)
    if seen is not None and digest in seen:
        return seen[digest]
    found = session.store.get_artifact(digest)
    if seen is not None and found is not None and len(seen) < 10_000:
        seen[digest] = found
    return found


def signoff_pair(pipe: Pipeline) -> tuple[Environment | None, Environment | None]:
    """The environment whose sign-off lets a release into production, and production."""
    production = pipe.production
    if production is None:
        return None, None
    index = pipe.names.index(production.name)
    return (pipe.environments[index - 1] if index > 0 else None), production


# -- the pipeline page ---------------------------------------------------------------------


def pipeline_view(session: Session, health: Mapping[str, str]) -> Json:
    pipe = session.pipeline()
    store = session.store
    source, production = signoff_pair(pipe)
    latest = store.list_artifacts(limit=1)
    environments = []
    now = datetime.now(UTC)
    for env in pipe.environments:
        current = store.current_deployment(env.name)
        artifact = artifact_of(session, current.digest) if current else None
        deployed_at = (current.finished_at or current.started_at) if current else None
        environments.append(
            {
                "name": env.name,
                "tier": env.tier.value,
                "url": env.url,
                "gate": env.name == (source.name if source else None)
                or (source is None and env.tier.value == "staging"),
                "production": production is not None and env.name == production.name,
                "version": (artifact.tag or artifact.version) if artifact else None,
                "digest": current.digest if current else None,
                "short": short(current.digest if current else None),
                "health": health.get(env.name, "not deployed") if current else "not deployed",
                "deployed_at": iso(deployed_at),
                "age": age(deployed_at, now),
                "deployed_by": current.actor if current else None,
                "break_glass": current is not None and current.kind == "force",
            }
        )
    build = latest[0] if latest else None
    return {
        "service": pipe.service.name,
        "build": _artifact_brief(build, now) if build else None,
        "environments": environments,
        "signoff": signoff_view(session, pipe, source, production),
    }


def _artifact_brief(artifact: ArtifactRecord, now: datetime) -> Json:
    return {
        "version": artifact.tag or artifact.version,
        "digest": artifact.digest,
        "short": short(artifact.digest),
        "built_at": iso(artifact.built_at),
        "age": age(artifact.built_at, now),
        "built_by": artifact.built_by,
        "commit": artifact.commit[:10],
    }


def signoff_view(
    session: Session, pipe: Pipeline, source: Environment | None, target: Environment | None
) -> Json:
    """The diamond: passed | held | none, each gate's state, approvals in of required."""
    rule = approval_rule(source) if source else None
    required_gates = [n for n, g in source.gates.items() if g.kind != "approval"] if source else []
    view: Json = {
        "state": "none",
        "source": source.name if source else None,
        "target": target.name if target else None,
        "digest": None,
        "short": "",
        "version": None,
        "gates": [{"name": name, "status": "pending"} for name in required_gates],
        "approvals": {"in": 0, "required": rule.required if rule else 0, "people": []},
        "reviewers": list(rule.reviewers) if rule else [],
        "holds": [],
        "verdicts": [],
        "can_sign_off": rule is not None,
        #: the target already runs this digest: nothing is waiting
        "promoted": False,
    }
    if source is None or target is None:
        return view
    current = session.store.current_deployment(source.name)
    if current is None:
        return view
    artifact = artifact_of(session, current.digest)
    try:
        decision = signoff_for(session, source.name, target.name)
    except (StagelineError, ValueError) as exc:
        view["state"] = "held"
        view["holds"] = [{"reason": scrub(str(exc)), "clear": "fix the pipeline file"}]
        return view
    landed = session.store.current_deployment(target.name)
    view.update(
        promoted=landed is not None and landed.digest == current.digest,
        state="passed" if decision.promote else "held",
        digest=current.digest,
        short=short(current.digest),
        version=(artifact.tag or artifact.version) if artifact else None,
        gates=[
            {"name": name, "status": _GATE_STATE.get(decision.gates.get(name, ""), "pending")}
            for name in required_gates
        ],
        approvals={
            "in": len(decision.approvals_counted),
            "required": decision.approvals_required,
            "people": list(decision.approvals_counted),
        },
        holds=[{"reason": scrub(h.reason), "clear": scrub(h.clear)} for h in decision.holds],
        verdicts=[
            _verdict(v)
            for v in session.store.verdicts(source.name, current.digest)
            if v.withdrawn_at is None
        ],
    )
    return view


def _verdict(v: Any) -> Json:
    return {
        "person": v.person,
        "kind": v.kind,
        "note": scrub(v.note),
        "environment": v.environment,
        "digest": v.digest,
        "at": iso(v.at),
        "withdrawn_at": iso(v.withdrawn_at),
    }


# -- the release page ----------------------------------------------------------------------


def find_release(session: Session, ref: str) -> ArtifactRecord:
    """An artifact by its full digest or a unique prefix of at least 12 hex characters."""
    hexpart = ref.removeprefix("sha256:").lower()
    if len(hexpart) < 12 or any(c not in string.hexdigits for c in hexpart):
        raise UsageError(
            f"not a digest: {ref!r}", hint="give the full digest or at least 12 hex characters"
        )
    matches = session.store.find_artifacts(digest_prefix="sha256:" + hexpart)
    if not matches:
        raise ArtifactNotFound(ref)
    if len(matches) > 1:
        shown = ", ".join(short(m.digest) for m in matches[:5])
        raise UsageError(f"{ref!r} is ambiguous: {shown}", hint="give more digest characters")
    return matches[0]


def release_view(session: Session, artifact: ArtifactRecord) -> Json:
    store, digest = session.store, artifact.digest
    return {
        "digest": digest,
        "short": short(digest),
        "version": artifact.tag or artifact.version,
        "artifact": {
            "service": artifact.service,
            "version": artifact.version,
            "tag": artifact.tag,
            "ref": artifact.ref,
            "commit": artifact.commit,
            "commit_time": iso(artifact.commit_time),
            "built_at": iso(artifact.built_at),
            "built_by": artifact.built_by,
            "host": artifact.host,
            "size_bytes": artifact.size_bytes,
        },
        "manifest": _manifest(session, digest),
        "deployments": [
            _deployment(d, artifact) for d in store.deployments(digest=digest, limit=200)
        ],
        "gate_runs": [_gate_run(r) for r in store.gate_runs(digest=digest, limit=100)],
        "verdicts": [_verdict(v) for v in store.verdicts(digest=digest)],
        "audit": [_event(e) for e in reversed(store.events(digest=digest, limit=200))],
    }


def _manifest(session: Session, digest: str) -> Json | None:
    if not session.artifacts.has(digest):
        return None
    _, manifest = session.artifacts.load(digest)
    return {
        "service": manifest.service.name,
        "version": manifest.service.version,
        "kind": manifest.service.kind,
        "start": manifest.service.start,
        "health": manifest.service.health,
        "release": manifest.service.release,
        "source": manifest.source.model_dump(),
        "python": manifest.python.model_dump(),
        "pins": [f"{p.name}=={p.version}" for p in manifest.pins],
        "files": len(manifest.files),
        "bytes": sum(f.size for f in manifest.files),
    }


def _deployment(d: DeploymentRecord, artifact: ArtifactRecord | None) -> Json:
    return {
        "id": d.id,
        "environment": d.environment,
        "digest": d.digest,
        "short": short(d.digest),
        "version": (artifact.tag or artifact.version) if artifact else None,
        "kind": d.kind,
        #: entered with --force past a held sign-off (see stageline.entry)
        "break_glass": d.kind == "force",
        "status": d.status,
        "actor": d.actor,
        "started_at": iso(d.started_at),
        "finished_at": iso(d.finished_at),
        "age": age(d.finished_at or d.started_at),
        "detail": scrub(d.detail),
    }


def _gate_run(run: Any) -> Json:
    return {
        "id": run.id,
        "environment": run.environment,
        "gate": run.gate,
        "kind": run.kind,
        "status": run.status,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration": round(run.duration, 3),
        "summary": scrub(run.summary),
        "actor": run.actor,
        "evidence": scrub_value(run.evidence),
        "rehearsal": _rehearsal(run.report_path) if run.kind == "migrations" else None,
    }


def _rehearsal(report_path: str | None) -> Json | None:
    """The lock and stall timeline of a migration rehearsal (rehearsal.json beside its report)."""
    if not report_path:
        return None
    path = Path(report_path).parent / "rehearsal.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    facts = data.get("facts") or {}
    trace = facts.get("trace") or {}
    timeline: Json = scrub_value(
        {
            "downtime_ms": data.get("downtime_ms"),
            "locks": [
                {k: lock.get(k) for k in ("relation", "mode", "granted", "start", "end")}
                for lock in (trace.get("locks") or [])[:200]
            ],
            "stalls": [
                {
                    "table": s.get("table"),
                    "read_ms": s.get("read_ms"),
                    "write_ms": s.get("write_ms"),
                    "windows": s.get("windows") or [],
                }
                for s in (facts.get("stalls") or [])[:50]
            ],
        }
    )
    return timeline


def _event(e: Any) -> Json:
    return {
        "id": e.id,
        "at": iso(e.at),
        "actor": e.actor,
        "kind": e.kind,
        "environment": e.environment,
        "digest": e.digest,
        "short": short(e.digest),
        "data": scrub_value(e.data),
        "text": scrub(describe(e)),
    }


# -- history, audit, metrics ---------------------------------------------------------------

STATUSES = ("in_progress", "succeeded", "failed", "rolled_back")


def history_view(
    session: Session, environment: str | None, status: str | None, limit: int = 100
) -> Json:
    pipe = session.pipeline()
    if environment:
        environment = pipe.environment(environment).name
    if status and status not in STATUSES:
        raise UsageError(f"unknown status {status!r}", hint=f"one of: {', '.join(STATUSES)}")
    limit = max(1, min(limit, 1000))
    wanted = cast(DeploymentStatus | None, status or None)  # checked against STATUSES above
    rows = session.store.deployments(environment or None, limit, status=wanted)
    artifacts: dict[str, ArtifactRecord | None] = {}
    for d in rows:
        if d.digest not in artifacts:
            artifacts[d.digest] = artifact_of(session, d.digest)
    return {
        "environment": environment or None,
        "status": status or None,
        "limit": limit,
        "environments": pipe.names,
        "statuses": list(STATUSES),
        "deployments": [_deployment(d, artifacts[d.digest]) for d in rows],
    }


def audit_view(session: Session, environment: str | None, limit: int = 100) -> Json:
    if environment:
        environment = session.pipeline().environment(environment).name
    limit = max(1, min(limit, 1000))
    events = session.store.events(environment or None, limit)
    return {"environment": environment or None, "events": [_event(e) for e in events]}


def metrics_view(session: Session, days: int = 30) -> Json:
    now = datetime.now(UTC)
    figures = metrics_for(session, days=days, now=now)
    data = figures.to_json()
    since = now - timedelta(days=days)
    production = figures.production
    per_day = [0] * days
    if production:
        for d in session.store.deployments(production, limit=5000):
            when = d.finished_at or d.started_at
            if d.status == "succeeded" and since <= when < now:
                per_day[min(days - 1, int((when - since).total_seconds() // 86400))] += 1
    data["days"] = days
    data["frequency_bars"] = [[f.environment, f.deployments] for f in figures.frequency]
    data["production_per_day"] = per_day
    return data
