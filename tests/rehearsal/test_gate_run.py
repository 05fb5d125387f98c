"""The ``migrations`` gate end to end on a real workspace: staging and production are
external databases on the test server, staging already runs the candidate (0002), and
production runs 0001. Without a snapshot the gate copies staging's database while it is
in use; with one, it clones the snapshot."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from stageline.config.loader import load_pipeline
from stageline.gates.base import GateContext
from stageline.gates.migrations import MigrationsGate, MigrationsOptions, rehearsal_lines
from stageline.host.workspace import Workspace
from stageline.rehearsal.tools import Alembic, local_runner
from stageline.services.postgres import PostgresServer
from stageline.state import Store
from stageline.usecases.demo import example_source
from stageline.usecases.gating import gate_views
from stageline.usecases.pipeline import Session

BIN = Path(sys.executable).parent

PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
target = {{ kind = "local", port = 18603 }}
services.postgres = {{ provider = "external", url = "{staging}" }}

[environments.production]
tier = "production"
target = {{ kind = "local", port = 18604 }}
services.postgres = {{ provider = "external", url = "{production}" }}
"""


@pytest.fixture
def workspace(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[dict[str, str]]:
    names = {k: f"{k}_{uuid.uuid4().hex[:10]}" for k in ("staging", "production", "snap")}
    for name in names.values():
        postgres_server.create_database(name)
    bundle = tmp_path / "bundle"
    source = example_source()
    shutil.copytree(source / "migrations", bundle / "migrations")
    shutil.copy2(source / "alembic.ini", bundle / "alembic.ini")
    for revision in (bundle / "migrations" / "versions_next").glob("*.py"):
        shutil.copy2(revision, bundle / "migrations" / "versions" / revision.name)
    tool = Alembic(run=local_runner(), cwd=bundle, env={"PATH": str(BIN)}, bin_dir=BIN)
    for key, revision in (("staging", "head"), ("production", "0001_initial"),
                          ("snap", "0001_initial")):  # fmt: skip
        tool.upgrade_command = f"alembic upgrade {revision}"
        assert tool.upgrade(postgres_server.url(names[key]), "setup").ok
    (tmp_path / "stageline.toml").write_text(
        PIPELINE.format(
            staging=postgres_server.url(names["staging"]),
            production=postgres_server.url(names["production"]),
        )
    )
    try:
        yield {**names, "root": str(tmp_path), "bundle": str(bundle)}
    finally:
        for name in names.values():
            postgres_server.drop_database(name)


@contextlib.contextmanager
def context(postgres_server: PostgresServer, ws: dict[str, str]) -> Iterator[GateContext]:
    root = Path(ws["root"])
    env = load_pipeline(root).environment("staging")
    evidence = root / ".stageline" / "envs" / "staging" / "evidence" / "t1" / "migrations"
    evidence.mkdir(parents=True)
    with Session.open(root) as session:
        views = gate_views(session)
        yield GateContext(
            name="migrations", environment=env, url="http://127.0.0.1:18603", health_path="/",
            variables={"DATABASE_URL": postgres_server.url(ws["staging"])}, digest="sha256:x",
            version="1.7.0rc1", bundle=Path(ws["bundle"]), python=sys.executable,
            evidence_dir=evidence, root=root, home=root / ".stageline", deployed_at=None,
            deadline=time.monotonic() + 120,
            log=lambda line: None, pipeline=views.pipeline, store=views.store,
            targets=views.targets,
        )  # fmt: skip


def test_gate_copies_staging_in_use_and_downgrades_to_production(
    postgres_server: PostgresServer, workspace: dict[str, str]
) -> None:
    with (
        context(postgres_server, workspace) as ctx,
        psycopg.connect(postgres_server.url(workspace["staging"])),  # the service is connected
    ):
        result = MigrationsGate().run(ctx, MigrationsOptions(max_stall_ms=2000))
    assert result.status == "passed", result.summary
    assert result.summary.startswith("0001_initial -> 0002_order_notes: downtime window")
    assert result.evidence["route"] == "0001_initial -> 0002_order_notes"
    assert "pg_dump | pg_restore" in result.evidence["copy"]
    assert [s["name"] for s in result.evidence["steps"]] == [
        "prepare", "upgrade", "downgrade", "upgrade again",
    ]  # fmt: skip
    assert result.report is not None and "verdict: passed" in result.report.read_text()
    for name in ("rehearsal.json", "rehearsal.xml"):
        assert (ctx.evidence_dir / name).is_file()
    # the copy's statement log was read and joined (the copy's settings only)
    data = json.loads((ctx.evidence_dir / "rehearsal.json").read_text())
    assert data["facts"]["trace"]["logged"] is True, data["facts"]["notes"]
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        live_settings = conn.execute(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d "
            "ON d.oid = s.setdatabase WHERE d.datname = %s",
            (workspace["staging"],),
        ).fetchone()
    assert live_settings == (0,)  # the live database's settings were never touched
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'stageline_rehearsal_%'"
        ).fetchone()
    assert left == (0,)


def test_gate_clones_the_newest_snapshot(
    postgres_server: PostgresServer, workspace: dict[str, str]
) -> None:
    root = Path(workspace["root"])
    with Store.open(Workspace.at(root).state_url) as store:
        store.add_snapshot(
            workspace["snap"], source="production", environment="staging", rules_digest="r",
            row_counts={}, size=0, duration=0.1, actor="test",
        )  # fmt: skip
        with context(postgres_server, workspace) as ctx:
            result = MigrationsGate().run(ctx, MigrationsOptions())
        assert result.status == "passed", result.summary
        assert f"template copy of {workspace['snap']}" in result.evidence["copy"]
        assert [s["name"] for s in result.evidence["steps"]] == [
            "upgrade", "downgrade", "upgrade again",
        ]  # fmt: skip


class _Runs:
    """The one query ``rehearsal_lines`` makes of the store, answered from a list."""

    def __init__(self, runs: list[SimpleNamespace]) -> None:
        self.runs = runs

    def gate_runs(self, environment: str, digest: str, limit: int) -> list[SimpleNamespace]:
        found = [r for r in self.runs if (r.environment, r.digest) == (environment, digest)]
        return found[:limit]


def test_status_line_is_the_newest_rehearsal_of_the_running_digest() -> None:
    def run(env: str, digest: str, kind: str, summary: str) -> SimpleNamespace:
        return SimpleNamespace(environment=env, digest=digest, kind=kind, gate="rehearse",
                               status="passed", summary=summary)  # fmt: skip

    store = _Runs([
        run("staging", "sha256:b", "migrations", "newest"),
        run("staging", "sha256:b", "http", "not a rehearsal"),
        run("staging", "sha256:b", "migrations", "older"),
        run("staging", "sha256:a", "migrations", "another digest"),
    ])  # fmt: skip
    lines = rehearsal_lines(store, [("staging", "sha256:b"), ("production", None)])  # type: ignore[arg-type]
    assert lines == ["migration rehearsal (staging, rehearse): passed: newest"]


def test_alembic_ini_anywhere_and_a_missing_one_named(
    postgres_server: PostgresServer, workspace: dict[str, str]
) -> None:
    bundle = Path(workspace["bundle"])
    (bundle / "db").mkdir()
    (bundle / "alembic.ini").rename(bundle / "db" / "alembic.ini")  # %(here)s/migrations
    (bundle / "migrations").rename(bundle / "db" / "migrations")
    with context(postgres_server, workspace) as ctx:
        missing = MigrationsGate().run(ctx, MigrationsOptions())
    assert missing.status == "error"
    assert missing.summary.startswith(f"no alembic.ini at {bundle}/alembic.ini: set config = ")
    shutil.rmtree(Path(workspace["root"]) / ".stageline" / "envs" / "staging" / "evidence")
    with context(postgres_server, workspace) as ctx:
        result = MigrationsGate().run(ctx, MigrationsOptions(config="db/alembic.ini"))
    assert result.status == "passed", result.summary
    assert result.evidence["route"] == "0001_initial -> 0002_order_notes"
    assert result.evidence["steps"][1]["ok"] and "-c db/alembic.ini" in str(
        (ctx.evidence_dir / "rehearsal.json").read_text()
    )
