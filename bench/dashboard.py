"""Dashboard server time with a big state store: the pipeline page and a release page.

Run: .venv/bin/python bench/dashboard.py [--deployments 10000] [--events 100000] [--requests 50]
[--quick]

On a copy of the example service, for real: production runs v1.6.0 (break-glass deploy),
v1.7.0-rc1 is shipped to staging, its gates run, one of two approvals is in (held).
Then, side by side on that same workspace with the same running services:

- *small store*: only what that real run recorded (four deployments, about a dozen events);
- *big store*: the same, under a history of ``--deployments`` deployments (releases going
  development -> test -> staging -> production, a few failed), their gate runs and
  approvals, and ``--events`` audit events, bulk-inserted through SQLAlchemy Core into the
  store's own tables; the real rows keep the newest ids, and the whole audit chain (the
  real events re-linked after the history) still verifies.

Each page is requested ``--requests`` times after a warm-up, in process through the ASGI
app (httpx ``ASGITransport``) and over real HTTP against ``stageline serve`` (one kept-alive
connection); the table shows median and p95 in ms, the 50 ms aim (for the pipeline and
release pages and their API twins), and big/small ratios. The DORA metrics are memoized
until the store changes, so they are measured twice: as served (a memo hit) and with an
audit event appended (untimed) before each request, which makes every request compute.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from select import select as wait_readable
from typing import Any

import httpx
from _quick import parse
from sqlalchemy import Engine, create_engine, func, insert, select, update

# the repository first on the path (for tests.*), not this script's folder
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.helpers import own_tmp, stop_everything, use_free_ports
from tests.web.seed import read_anonymously

from stageline.services.postgres import free_port
from stageline.state.models import (
    GENESIS_HASH,
    Artifact,
    Deployment,
    Event,
    canonical_json,
    event_hash,
)
from stageline.state.verification import GateRunRow, VerdictRow
from stageline.usecases import audit, deploy, pipeline, verification
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session

OLD, NEW = TAGS
ENVIRONMENTS = ("development", "test", "staging", "production")
GATES = {
    "smoke": "http",
    "integration": "pytest",
    "no-real-side-effects": "side-effects",
    "migrations": "migrations",
    "parity": "parity",
}
FILLER = ("promote.held", "gate.failed", "access.refused", "snapshot.taken", "approve.refused")
AIM_MS = 50.0
WARMUP = 5
AIMED = ("/", "/releases/{digest}", "/api/pipeline", "/api/releases/{digest}")
#: (label, path, change the store before each request)
PAGES = [
    *((path, path, False) for path in AIMED),
    ("/history", "/history", False),
    ("/metrics", "/metrics", False),
    ("/metrics, store changed", "/metrics", True),
    ("/api/metrics, store changed", "/api/metrics", True),
]


# -- the real part: a held release in staging, running services ------------------------


def real_pipeline(repo: Path) -> str:
    """Production on v1.6.0, staging on v1.7.0-rc1 with gates run and 1 of 2 approvals."""
    with Session.open(repo) as session:
        for tag in TAGS:
            pipeline.build(session, tag)
        os.environ["STAGELINE_USER"] = "ops@shop.example"
        deploy.deploy(session, "production", OLD, force=True)
        os.environ["STAGELINE_USER"] = "ana@shop.example"
        deploy.ship(session, NEW)
        verification.verify(session, "staging")
        verification.give_verdict(
            session, "staging", "approve", note="looks good", person="ben@shop.example"
        )
        current = session.store.current_deployment("staging")
        assert current is not None
        return current.digest


# -- the big history -------------------------------------------------------------------


def _digest(i: int) -> str:
    return "sha256:" + hashlib.sha256(f"bench-release-{i}".encode()).hexdigest()


def _history(
    deployments: int, events: int, end: datetime, home: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Rows for every table (ids 1..n), oldest first, the events chained from genesis."""
    rng = random.Random(11)
    step = timedelta(days=365) / max(deployments, 1)
    start = end - step * deployments
    releases = math.ceil(deployments / len(ENVIRONMENTS))
    rows: dict[str, list[dict[str, Any]]] = {
        "artifacts": [],
        "deployments": [],
        "gate_runs": [],
        "verdicts": [],
    }
    specs: list[tuple[datetime, str, str, str | None, str | None, dict[str, Any]]] = []
    for r in range(releases):
        built = start + step * (r * len(ENVIRONMENTS)) - timedelta(minutes=10)
        rows["artifacts"].append(
            {
                "digest": _digest(r),
                "service": "shop",
                "version": f"0.{r // 100}.{r % 100}",
                "tag": f"v0.{r // 100}.{r % 100}",
                "ref": f"v0.{r // 100}.{r % 100}",
                "commit": hashlib.sha1(f"c{r}".encode()).hexdigest(),
                "commit_time": built - timedelta(hours=2),
                "built_at": built,
                "built_by": "ci@shop.example",
                "host": "bench",
                "size_bytes": 28_000_000,
                "path": str(home / "artifacts" / f"bench-{r}"),
            }
        )
        specs.append((built, "ci@shop.example", "artifact.built", None, _digest(r), {"ref": "x"}))
    current: dict[str, int] = {}
    per_deployment = max(events - len(specs), 0) // max(deployments, 1)
    spare = max(events - len(specs), 0) - per_deployment * deployments
    for i in range(deployments):
        r, env = divmod(i, len(ENVIRONMENTS))
        name, digest = ENVIRONMENTS[env], _digest(r)
        at = start + step * i
        failed = rng.random() < 0.03
        kind = "deploy" if env == 0 else "promote"
        status = "failed" if failed else "succeeded"
        rows["deployments"].append(
            {
                "id": i + 1,
                "environment": name,
                "digest": digest,
                "kind": kind,
                "status": status,
                "actor": "ana@shop.example",
                "started_at": at,
                "finished_at": at + timedelta(seconds=40),
                "previous_id": current.get(name),
                "detail": "release command failed" if failed else "",
            }
        )
        if not failed:
            current[name] = i + 1
        done = at + timedelta(seconds=40)
        specs.append(
            (done, "ana@shop.example", f"{kind}.{status}", name, digest, {"deployment": i + 1})
        )
        if name == "staging" and not failed:
            for g, (gate, gate_kind) in enumerate(GATES.items()):
                rows["gate_runs"].append(
                    {
                        "id": len(rows["gate_runs"]) + 1,
                        "environment": name,
                        "digest": digest,
                        "gate": gate,
                        "kind": gate_kind,
                        "status": "passed",
                        "started_at": done + timedelta(seconds=5),
                        "finished_at": done + timedelta(seconds=8 + g),
                        "duration": 3.0 + g,
                        "summary": f"{gate} passed",
                        "evidence": '{"bench":true}',
                        "report_path": None,
                        "actor": "ci@shop.example",
                    }
                )
                specs.append(
                    (done + timedelta(seconds=8 + g), "ci@shop.example", "gate.passed", name,
                     digest, {"gate": gate, "summary": f"{gate} passed"})
                )  # fmt: skip
            for v, person in enumerate(("ben@shop.example", "chen@shop.example")):
                when = done + timedelta(minutes=30 + v)
                rows["verdicts"].append(
                    {
                        "id": len(rows["verdicts"]) + 1,
                        "environment": name,
                        "digest": digest,
                        "person": person,
                        "kind": "approve",
                        "note": "checked the order flow",
                        "at": when,
                        "withdrawn_at": None,
                    }
                )
                specs.append(
                    (when, person, "approve.given", name, digest, {"note": "checked"})
                )  # fmt: skip
        for f in range(per_deployment + (1 if i < spare else 0)):
            specs.append(
                (done + timedelta(seconds=50 + f), "ana@shop.example", FILLER[f % len(FILLER)],
                 name, digest, {"n": f})
            )  # fmt: skip
    specs.sort(key=lambda spec: spec[0])
    rows["events"] = []
    prev = GENESIS_HASH
    for n, (at, actor, kind, environment, digest, data) in enumerate(specs[:events], start=1):
        digest_hash = event_hash(
            prev, at=at, actor=actor, kind=kind, environment=environment, digest=digest, data=data
        )
        rows["events"].append(
            {
                "id": n,
                "at": at,
                "actor": actor,
                "kind": kind,
                "environment": environment,
                "digest": digest,
                "data": canonical_json(data),
                "prev_hash": prev,
                "hash": digest_hash,
            }
        )
        prev = digest_hash
    return rows, current


def _chain_line(chain: audit.ChainReport) -> str:
    """How the audit chain verifies: the seed inserts its history rows directly, so the
    chain (intact) does not vouch for them; anything else is a real break."""
    if chain.ok:
        return "audit chain verifies"
    if chain.broken is None:
        return f"audit chain intact ({len(chain.records):,} seeded rows it does not vouch for)"
    return f"audit chain BROKEN: {chain.first_bad}"


def seed(url: str, home: Path, deployments: int, events: int) -> dict[str, int]:
    """Put the history under the real rows: shift the real ids up, insert the history
    below them, re-link the real events after the history's last one. One transaction."""
    engine: Engine = create_engine(url)
    dep, ev = Deployment.__table__, Event.__table__
    gate_runs, verdicts = GateRunRow.__table__, VerdictRow.__table__
    with engine.begin() as conn:
        first_real = conn.scalar(select(func.min(Event.at))) or datetime.now(UTC)
        end = first_real.replace(tzinfo=UTC) - timedelta(hours=1)
        rows, current = _history(deployments, events, end, home)
        n_dep, n_ev = len(rows["deployments"]), len(rows["events"])
        n_gate, n_verdict = len(rows["gate_runs"]), len(rows["verdicts"])
        # the real rows move up, keeping their order; their links follow
        conn.execute(update(dep).values(id=dep.c.id + n_dep, previous_id=dep.c.previous_id + n_dep))
        for name, last in current.items():  # the first real deployment follows the history
            first = conn.scalar(select(func.min(dep.c.id)).where(dep.c.environment == name))
            if first is not None and first > n_dep:
                conn.execute(update(dep).where(dep.c.id == first).values(previous_id=last))
        conn.execute(update(gate_runs).values(id=gate_runs.c.id + n_gate))
        conn.execute(update(verdicts).values(id=verdicts.c.id + n_verdict))
        prev = rows["events"][-1]["hash"] if rows["events"] else GENESIS_HASH
        real = conn.execute(select(ev).order_by(ev.c.id.desc())).mappings().all()
        conn.execute(update(ev).values(id=ev.c.id + n_ev + len(real)))  # out of the way
        for position, row in enumerate(reversed(real), start=1):
            data = _shifted(row["data"], n_dep, n_gate, n_verdict)
            at = row["at"].replace(tzinfo=UTC) if row["at"].tzinfo is None else row["at"]
            new_hash = event_hash(
                prev,
                at=at,
                actor=row["actor"],
                kind=row["kind"],
                environment=row["environment"],
                digest=row["digest"],
                data=data,
            )
            conn.execute(
                update(ev)
                .where(ev.c.id == row["id"] + n_ev + len(real))
                .values(
                    id=n_ev + position, prev_hash=prev, hash=new_hash, data=canonical_json(data)
                )
            )
            prev = new_hash
        for table, key in (
            (Artifact.__table__, "artifacts"),
            (dep, "deployments"),
            (gate_runs, "gate_runs"),
            (verdicts, "verdicts"),
            (ev, "events"),
        ):
            for chunk in range(0, len(rows[key]), 5000):
                conn.execute(insert(table), rows[key][chunk : chunk + 5000])
    engine.dispose()
    return {
        "artifacts": len(rows["artifacts"]),
        "deployments": n_dep,
        "gate runs": n_gate,
        "verdicts": n_verdict,
        "events": n_ev,
    }


def _shifted(text: str, n_dep: int, n_gate: int, n_verdict: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    for key, offset in (("deployment", n_dep), ("run", n_gate), ("verdict", n_verdict)):
        if isinstance(data.get(key), int):
            data[key] += offset
    return data


# -- measuring -------------------------------------------------------------------------


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]
    return statistics.median(ordered) * 1000, p95 * 1000


Get = Callable[[str], httpx.Response]


def _timed(get: Get, path: str, n: int, touch: Callable[[], None] | None) -> tuple[float, float]:
    """Median and p95 of ``n`` requests after the warm-ups; ``touch`` (untimed) changes the
    store before each one, so nothing memoized until the next change is served."""
    for _ in range(WARMUP):
        warm = get(path)
        assert warm.status_code == 200, f"GET {path}: {warm.status_code} {warm.text[:300]}"
    samples = []
    for _ in range(n):
        if touch is not None:
            touch()
        started = time.perf_counter()
        response = get(path)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, f"GET {path}: {response.status_code}"
    return _stats(samples)


def _measure(
    repo: Path, get: Get, rows: list[tuple[str, bool]], n: int
) -> list[tuple[float, float]]:
    with Session.open(repo) as session:

        def touch() -> None:
            session.store.append_event("bench.touched", actor="bench@shop.example")

        return [_timed(get, path, n, touch if fresh else None) for path, fresh in rows]


def measure_in_process(
    repo: Path, rows: list[tuple[str, bool]], n: int
) -> list[tuple[float, float]]:
    from stageline.web import create_app

    app = create_app(repo, secret_key=b"bench" * 8)
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    try:
        return _measure(repo, lambda path: loop.run_until_complete(client.get(path)), rows, n)
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()


def measure_http(repo: Path, rows: list[tuple[str, bool]], n: int) -> list[tuple[float, float]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "serve", "-C", str(repo), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = wait_readable([process.stdout], [], [], 60)
        line = process.stdout.readline().strip() if ready else ""
        assert line == f"serving http://127.0.0.1:{port}", f"stageline serve said {line!r}"
        with httpx.Client(base_url=line.removeprefix("serving "), timeout=30) as client:
            return _measure(repo, client.get, rows, n)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    args = parse(parser, deployments=200, events=2000, requests=5)
    os.environ.setdefault("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", "sk_bench_not_real")
    folder = own_tmp("stageline-bench-dashboard-")
    repo = prepare_demo_repo(folder / "shop")
    use_free_ports(repo / "stageline.toml")
    read_anonymously(repo / "stageline.toml")  # the pages as a visitor sees them, no sign-in
    try:
        started = time.perf_counter()
        digest = real_pipeline(repo)
        took = time.perf_counter() - started
        print(f"real run (build, deploy, ship, verify, approve): {took:.1f} s")
        rows = [(path.replace("{digest}", digest), fresh) for _, path, fresh in PAGES]
        small = {
            "in-process": measure_in_process(repo, rows, args.requests),
            "HTTP": measure_http(repo, rows, args.requests),
        }
        with Session.open(repo) as session:
            url, home = session.store.url, session.workspace.home
        started = time.perf_counter()
        counts = seed(url, home, args.deployments, args.events)
        seeded = time.perf_counter() - started
        with Session.open(repo) as session:
            chain = audit.verify(session.store)
            total = len(session.store.deployments(limit=10**9))
        print(
            f"seeded in {seeded:.1f} s: "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items())
            + f"; store: {total:,} deployments, {chain.events:,} events,"
            + f" {_chain_line(chain)}"
        )
        big = {
            "in-process": measure_in_process(repo, rows, args.requests),
            "HTTP": measure_http(repo, rows, args.requests),
        }
    finally:
        os.environ.pop("STAGELINE_USER", None)
        stop_everything(repo)
        shutil.rmtree(folder, ignore_errors=True)
    report(small, big, args.requests)


def report(
    small: dict[str, list[tuple[float, float]]], big: dict[str, list[tuple[float, float]]], n: int
) -> None:
    print(f"\nserver time, {n} requests each after {WARMUP} warm-ups: median / p95 in ms")
    print(f"{'GET':<30}{'how':<12}{'small store':>16}{'big store':>16}{'big/small':>11}  aim")
    for i, (label, path, _) in enumerate(PAGES):
        for how in ("in-process", "HTTP"):
            (s_med, s_p95), (b_med, b_p95) = small[how][i], big[how][i]
            aim = "-"
            if path in AIMED:
                aim = f"< {AIM_MS:.0f} ms: " + ("ok" if b_p95 < AIM_MS else "OVER")
            print(
                f"{label:<30}{how:<12}{s_med:>7.1f} /{s_p95:>6.1f}{b_med:>9.1f} /{b_p95:>6.1f}"
                f"{b_med / s_med:>10.2f}x  {aim}"
            )
    print(
        "(in-process: the ASGI app through httpx.ASGITransport; HTTP: `stageline serve` on"
        " 127.0.0.1, one kept-alive connection; /metrics is memoized until the store changes:"
        " the 'store changed' row appends an audit event, untimed, before each request)"
    )


if __name__ == "__main__":
    main()
