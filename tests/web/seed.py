"""A workspace whose store holds constructed records: the example shop's pipeline file,
two artifacts, deployments, gate runs with evidence (a rehearsal's timeline too) and
personal tokens. Nothing runs (every deployed environment is "down"): enough for the
dashboard's rendering, sign-in, CSRF, sign-off and API tests, in milliseconds."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stageline.state import ArtifactRecord, Store
from stageline.usecases import tokens
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import QA, use_free_ports

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop" / "stageline.toml"
ANA, BEN, CHEN = QA
OLD, NEW = "v1.6.0", "v1.7.0-rc1"
KEY = b"k" * 32  # the session cookies' signing key in tests
#: a value that must never reach a page (production's payment key, leaked by a gate)
LEAKED = "sk_live_dashboard_e2e_91c7"


@dataclass
class Seeded:
    root: Path
    old: str
    new: str
    #: person -> personal token
    tokens: dict[str, str]


def digest_of(tag: str) -> str:
    return "sha256:" + hashlib.sha256(tag.encode()).hexdigest()


def add_artifact(store: Store, tag: str, built_at: datetime, digest: str | None = None) -> str:
    digest = digest or digest_of(tag)
    store.add_artifact(
        ArtifactRecord(
            digest=digest,
            service="shop",
            version=tag.removeprefix("v"),
            tag=tag,
            ref=tag,
            commit=hashlib.sha1(tag.encode()).hexdigest(),
            commit_time=built_at - timedelta(hours=1),
            built_at=built_at,
            built_by="ci@shop.example",
            host="builder",
            size_bytes=3 * 1024 * 1024,
            path=f"/nowhere/{digest[7:]}",
        )
    )
    return digest


def deploy(store: Store, env: str, digest: str, actor: str, status: str = "succeeded") -> int:
    started = store.start_deployment(env, digest, actor=actor, kind="deploy")
    store.finish_deployment(started.id, status, detail="" if status == "succeeded" else "boom")  # type: ignore[arg-type]
    store.append_event(f"deploy.{status}", actor=actor, environment=env, digest=digest)
    return started.id


def _rehearsal(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    facts = {
        "trace": {
            "locks": [
                {"relation": "orders", "mode": "AccessExclusiveLock", "granted": True,
                 "start": 12.0, "end": 85.5},
                {"relation": "products", "mode": "RowExclusiveLock", "granted": True,
                 "start": 90.0, "end": 140.0},
            ]
        },
        "stalls": [{"table": "orders", "read_ms": 70.0, "write_ms": 71.0,
                    "windows": [[14.0, 84.0]]}],
    }  # fmt: skip
    (folder / "rehearsal.json").write_text(json.dumps({"downtime_ms": 71.0, "facts": facts}))
    (folder / "rehearsal.txt").write_text("rehearsal report")
    return str(folder / "rehearsal.txt")


#: these tests read the dashboard without signing in, on loopback: they say so explicitly
ANONYMOUS_READ = '\n[dashboard]\nanonymous = "read"\n'


def read_anonymously(pipeline_file: Path) -> None:
    """Let anonymous visitors read (the default is sign-in only); once per file."""
    text = pipeline_file.read_text()
    if ANONYMOUS_READ not in text:
        pipeline_file.write_text(text + ANONYMOUS_READ)


def set_anonymous(pipeline_file: Path, value: str) -> None:
    """Change the ``[dashboard] anonymous`` setting :func:`read_anonymously` made."""
    text = pipeline_file.read_text()
    pipeline_file.write_text(text.replace('anonymous = "read"', f'anonymous = "{value}"'))


WAIVED = "waived: the previous release still uses orders.note -- drained first (until 2099-01-01)"


def seed(base: Path) -> Seeded:
    """Production on OLD; development, test and staging on NEW (put there by ana); every
    staging gate but ``parity`` run and passed; no approval: held, "0 of 2 approvals"."""
    root = base / "shop"
    root.mkdir(parents=True)
    shutil.copy(EXAMPLE, root / "stageline.toml")
    use_free_ports(root / "stageline.toml")
    read_anonymously(root / "stageline.toml")
    now = datetime.now(UTC)
    with Session.open(root) as session:
        store = session.store
        old = add_artifact(store, OLD, now - timedelta(days=3))
        new = add_artifact(store, NEW, now - timedelta(hours=2))
        deploy(store, "production", old, "ops@shop.example")
        for env in ("development", "test", "staging"):
            deploy(store, env, new, ANA)
        evidence = {
            "smoke": ("http", {"url": "http://127.0.0.1:1", "requests": [
                {"step": "", "method": "GET", "url": "http://127.0.0.1:1/healthz",
                 "status": 200, "ms": 4.2, "body": '{"status": "ok", "key": "' + LEAKED + '"}'},
            ]}),
            "integration": ("pytest", {"tests": 12, "failures": 0, "errors": 0, "skipped": 1,
                                       "failing": []}),
            "no-real-side-effects": ("side-effects", {"outbox": 2}),
            "migrations": ("migrations", {"route": "0002 -> 0003", "copy": "template clone",
                                          "downtime_ms": 71.0, "downtime_scaled_ms": 71.0,
                                          "steps": [{"name": "upgrade", "ok": True,
                                                     "seconds": 0.31}],
                                          "findings": [], "notes": [],
                                          "waivers": [WAIVED]}),
            "load": ("load", _load_evidence()),
        }  # fmt: skip
        for gate, (kind, data) in evidence.items():
            report = None
            if kind == "migrations":
                report = _rehearsal(root / ".stageline" / "envs" / "staging" / "evidence" / "x")
            store.record_gate_run(
                "staging", new, gate, kind=kind, status="passed", started_at=now,
                duration=1.5, summary=f"{gate} fine", evidence=data, report_path=report,
                actor=ANA,
            )  # fmt: skip
            store.append_event(
                "gate.passed", actor=ANA, environment="staging", digest=new, data={"gate": gate}
            )
        people = {p: tokens.create_token(store, "web", p)[0] for p in (ANA, BEN, CHEN)}
    return Seeded(root, old, new, people)


def _load_evidence() -> dict[str, Any]:
    """A passed A/B run's evidence, as the load gate writes it."""
    from stageline.load.judge import Budgets, judge
    from stageline.load.report import as_json
    from tests.gates.test_load import side

    baseline = side(per_second=((20, 6.0), (20, 7.0)))
    candidate = side("candidate (1.7.0-rc1)", per_second=((20, 6.5), (20, 7.0)))
    verdict = judge(baseline, candidate, Budgets())
    return as_json((baseline, candidate), verdict, 20, 20, 1.0, "production", {"GET /": 1})
