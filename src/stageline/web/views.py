"""What the dashboard shows besides the pipeline (that is :mod:`stageline.usecases.views`, shared
with ``stageline status``), gathered as plain JSON-ready data the pages and the API share.

Every query here is bounded: the latest deployment per environment, one digest's runs,
verdicts and events, ``limit`` rows of history. Secret values never leave: evidence,
summaries, notes and event data go through ``stageline.redact`` first.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from stageline.errors import ArtifactNotFound, UsageError
from stageline.parity.report import metrics_for
from stageline.redact import scrub, scrub_value
from stageline.state import ArtifactRecord, DeploymentRecord, VerdictRecord
from stageline.state.models import DeploymentStatus
from stageline.usecases.audit import describe
from stageline.usecases.pipeline import Session
from stageline.usecases.views import VerdictView, artifact_of
from stageline.values import age, short

Json = dict[str, Any]


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _verdict(v: VerdictRecord) -> Json:
    return VerdictView.of(v).to_json()


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
        "pins": [str(p) for p in manifest.pins],  # a local project says so: (workspace member)
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
        #: entered with --force past a held sign-off (see stageline.usecases.entry)
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
