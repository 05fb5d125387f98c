"""Promotion of the same artifact versus rebuilding and installing from source per tier.

Run: .venv/bin/python bench/promote.py [--rounds N] [--quick]

Side by side, in one run, on the example service:
- promote: `stageline promote staging` (the v1.7.0-rc1 artifact, verified and signed
  off in staging; the sign-off decision is part of the timed promotion) into production,
  which already runs v1.6.0: verify digest, offline venv from the wheelhouse,
  migrations, start, health check.
- rebuild: what this replaces: export the same tag, `pip install` it from source into a
  fresh virtualenv (pip's cache warm, the index reachable), run the migrations, start it
  and wait for the same health check.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _quick import parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.helpers import use_free_ports

from stageline.config.resolve import ReleaseFacts, service_environment
from stageline.services.postgres import free_port
from stageline.targets.backing import postgres_facts, server_admin_url
from stageline.targets.local import provide_runtime
from stageline.usecases import deploy, verification
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import secrets_for
from stageline.usecases.status import down

OLD, NEW = TAGS


def promote_once(repo: Path, *, cold: bool) -> float:
    """Put production back on v1.6.0 (not timed), then time promoting staging's v1.7.0-rc1.

    ``cold`` removes production's prepared copy of v1.7.0-rc1 first, so the timed promotion
    includes creating its virtualenv from the wheelhouse, as a first promotion does.
    """
    with Session.open(repo) as session:
        # production's database stays at OLD's successor schema (a nullable column): as is
        deploy.rollback(session, "production", to=OLD, keep_schema=True)
        if cold:
            staging = session.store.current_deployment("staging")
            assert staging is not None
            releases = session.workspace.home / "envs" / "production" / "releases"
            shutil.rmtree(releases / staging.digest.removeprefix("sha256:")[:12])
        started = time.perf_counter()
        deploy.promote(session, "staging")
        return time.perf_counter() - started


def rebuild_once(repo: Path, variables: dict[str, str], work: Path) -> float:
    """Export the tag, pip install from source, migrate, start, wait for health.

    The service gets what production's gets (``variables``: its vars, secrets, database)
    and, like every release stageline runs, the host's ``stageline.runtime`` helper.
    """
    started = time.perf_counter()
    src = work / "src"
    shutil.rmtree(work, ignore_errors=True)
    src.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", NEW], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    py = str(work / "venv" / "bin" / "python")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", str(src)], check=True, stderr=subprocess.DEVNULL
    )
    provide_runtime(work)
    port = free_port()
    env = {**os.environ, **variables, "PORT": str(port)}
    env["PATH"] = f"{work / 'venv' / 'bin'}:{env['PATH']}"
    subprocess.run(
        ["alembic", "upgrade", "head"], cwd=src, env=env, check=True, capture_output=True
    )
    log = work / "service.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            ["uvicorn", "shop.app:app", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the rebuilt service exited; its output:\n{tail}")
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)


def production_variables(session: Session, database_url: str) -> dict[str, str]:
    """What production's service receives (as a deploy computes it), on ``database_url``."""
    env = session.pipeline().environment("production")
    current = session.store.current_deployment("production")
    assert current is not None
    facts = postgres_facts(session.workspace.home, env, "shop")
    variables = service_environment(
        env,
        ReleaseFacts(NEW, current.digest),
        port=env.target.port,
        postgres=facts,
        secrets=secrets_for(env, session),
    )
    return {**variables, "DATABASE_URL": database_url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parse(parser, rounds=1).rounds
    os.environ.setdefault("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", "sk_bench_not_real")
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-"))
    folder.chmod(0o755)
    repo = prepare_demo_repo(folder / "shop")
    use_free_ports(repo / "stageline.toml")
    try:
        with Session.open(repo) as session:
            # production has run both releases, as in the demo; set-up, not what is timed:
            # v1.6.0 goes straight there (break glass), v1.7.0-rc1 the whole way
            deploy.deploy(session, "production", OLD, force=True)
            deploy.ship(session, NEW)
            verification.verify(session, "staging")  # sign-off: gates and two approvals
            for person in ("ben@shop.example", "chen@shop.example"):
                verification.give_verdict(session, "staging", "approve", person=person)
            deploy.promote(session, "staging")
            production = session.pipeline().environment("production")
            facts = postgres_facts(session.workspace.home, production, "shop")
            assert facts is not None
            # the service's role may not create databases: the server's admin role does
            admin = server_admin_url(session.workspace.home, production)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE shop_rebuild OWNER "{facts.user}"')
            variables = production_variables(session, facts.url.rsplit("/", 1)[0] + "/shop_rebuild")

        colds = [promote_once(repo, cold=True) for _ in range(rounds)]
        promotes = [promote_once(repo, cold=False) for _ in range(rounds)]
        rebuilds = [rebuild_once(repo, variables, folder / "rebuild") for _ in range(rounds)]
    finally:
        with Session.open(repo) as session:
            down(session)
        shutil.rmtree(folder, ignore_errors=True)

    promote_s, rebuild_s = statistics.median(colds), statistics.median(rebuilds)
    print(f"example service shop {NEW}, {rounds} rounds each, medians")
    print(
        f"  promote staging -> production, cold release  : {promote_s:6.2f} s  "
        f"(all: {', '.join(f'{t:.2f}' for t in colds)})"
    )
    print(
        f"  promote again, release already on disk       : {statistics.median(promotes):6.2f} s  "
        f"(all: {', '.join(f'{t:.2f}' for t in promotes)})"
    )
    print(
        f"  rebuild from source with pip, per tier       : {rebuild_s:6.2f} s  "
        f"(all: {', '.join(f'{t:.2f}' for t in rebuilds)})"
    )
    print(
        f"  cold promote / rebuild                       : {promote_s / rebuild_s:6.2f}  "
        f"(aim: <= 0.20, promote <= 3 s)"
    )


if __name__ == "__main__":
    main()
