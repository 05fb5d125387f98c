"""The ``migrations`` gate on services that ignore ``DATABASE_URL``: an Alembic ``env.py``
reading ``POSTGRES_*`` only, Django settings reading ``DB_*`` only. The live staging
database is watched throughout (schema, bookkeeping and a canary row, polled): zero
differences, and the copy's revisions move as the steps say. A tool pointed at the live
database on purpose is caught by the tripwire; a first release passes from empty;
floors, waivers and the previous release's compatibility."""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stageline.config.loader import load_pipeline
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.gates.base import GateContext, GateResult
from stageline.gates.migrations import MigrationsGate, MigrationsOptions
from stageline.rehearsal.fingerprint import schema_fingerprint
from stageline.rehearsal.tools import Alembic, Django, local_runner
from stageline.services.postgres import PostgresServer
from stageline.usecases.gating import gate_views
from stageline.usecases.pipeline import Session

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent
PORT = 18623

PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
target = {{ kind = "local", port = {port} }}
services.postgres = {{ provider = "external", url = "{staging}" }}

[environments.staging.vars]
{vars}

[environments.production]
tier = "production"
target = {{ kind = "local", port = {prod_port} }}
services.postgres = {{ provider = "external", url = "{production}" }}
"""

POSTGRES_VARS = {
    "POSTGRES_SERVER": "${postgres.host}",
    "POSTGRES_PORT": "${postgres.port}",
    "POSTGRES_DB": "${postgres.database}",
    "POSTGRES_USER": "${postgres.user}",
    "POSTGRES_PASSWORD": "${postgres.password}",
}
DB_VARS = {
    "DB_HOST": "${postgres.host}",
    "DB_PORT": "${postgres.port}",
    "DB_NAME": "${postgres.database}",
    "DB_USER": "${postgres.user}",
    "DB_PASSWORD": "${postgres.password}",
    "DJANGO_SETTINGS_MODULE": "db_settings",
    "NOTES_MIGRATIONS": "irreversible",
    "PYTHONDONTWRITEBYTECODE": "1",
}
NOT_NULL_SKU = '''"""Add sku NOT NULL without a default, drop note."""

from alembic import op

revision = "0003_items_sku"
down_revision = "0002_items_note"


def upgrade() -> None:
    op.execute("ALTER TABLE items DROP COLUMN note")
    op.execute("ALTER TABLE items ADD COLUMN sku text NOT NULL DEFAULT 'none'")
    op.execute("ALTER TABLE items ALTER COLUMN sku DROP DEFAULT")


def downgrade() -> None:
    op.execute("ALTER TABLE items DROP COLUMN sku")
    op.execute("ALTER TABLE items ADD COLUMN note text")
'''


@dataclass
class World:
    server: PostgresServer
    root: Path
    bundle: Path
    staging: str
    production: str
    names: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return self.server.url(name)


def facts_env(url: str, extra: dict[str, str]) -> dict[str, str]:
    pg = PostgresFacts.from_url(url)
    return {
        "PATH": str(BIN), "POSTGRES_SERVER": pg.host, "POSTGRES_PORT": str(pg.port),
        "POSTGRES_DB": pg.database, "POSTGRES_USER": pg.user, "POSTGRES_PASSWORD": pg.password,
        "DB_HOST": pg.host, "DB_PORT": str(pg.port), "DB_NAME": pg.database, "DB_USER": pg.user,
        "DB_PASSWORD": pg.password, **extra,
    }  # fmt: skip


def migrate(world: World, tool: str, database: str, command: str) -> None:
    """Bring ``database`` somewhere with the service's own tool (its own variables)."""
    url = world.url(database)
    migrator: Alembic | Django
    if tool == "alembic":
        migrator = Alembic(
            run=local_runner(), cwd=world.bundle, env=facts_env(url, {}), bin_dir=BIN
        )
    else:
        extra = {k: v for k, v in DB_VARS.items() if not v.startswith("${")}
        migrator = Django(run=local_runner(), cwd=world.bundle, env=facts_env(url, extra),
                          bin_dir=BIN)  # fmt: skip
    migrator.upgrade_command = command
    step = migrator.upgrade(url, "setup")
    assert step.ok, step.output


@pytest.fixture
def world(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[World]:
    staging, production = (f"{k}_{uuid.uuid4().hex[:10]}" for k in ("staging", "production"))
    found = World(postgres_server, tmp_path, tmp_path / "bundle", staging, production)
    for name in (staging, production):
        postgres_server.create_database(name)
    try:
        yield found
    finally:
        for name in (staging, production):
            postgres_server.drop_database(name)


def setup(world: World, project: str, variables: dict[str, str]) -> None:
    shutil.copytree(HERE / project, world.bundle,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    lines = "\n".join(f'{name} = "{value}"' for name, value in variables.items())
    (world.root / "stageline.toml").write_text(PIPELINE.format(
        port=PORT, prod_port=PORT + 1, vars=lines, staging=world.url(world.staging),
        production=world.url(world.production),
    ))  # fmt: skip


@contextlib.contextmanager
def context(world: World) -> Iterator[GateContext]:
    env = load_pipeline(world.root).environment("staging")
    variables = service_environment(
        env, ReleaseFacts("1.7.0", "sha256:x"), port=PORT,
        postgres=PostgresFacts.from_url(world.url(world.staging)), secrets={},
    )  # fmt: skip
    evidence = world.root / ".stageline" / "evidence" / uuid.uuid4().hex[:8]
    evidence.mkdir(parents=True)
    with Session.open(world.root) as session:
        views = gate_views(session)
        yield GateContext(
            name="migrations", environment=env, url=f"http://127.0.0.1:{PORT}", health_path="/",
            variables=variables, digest="sha256:x", version="1.7.0", bundle=world.bundle,
            python=sys.executable, evidence_dir=evidence, root=world.root,
            home=world.root / ".stageline", deployed_at=None, deadline=time.monotonic() + 180,
            log=lambda line: None, pipeline=views.pipeline, store=views.store,
            targets=views.targets,
        )  # fmt: skip


def reading(url: str) -> tuple[Any, ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        marks: list[Any] = [schema_fingerprint(conn)]
        for table in ("alembic_version", "django_migrations", "items", "notes_note"):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,):
                marks.append(sorted(map(repr, conn.execute(f"SELECT * FROM {table}"))))
    return tuple(marks)


class Watcher:
    """Polls the live database's schema, bookkeeping and rows while a gate runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            found = reading(self.url)
            if not self.seen or self.seen[-1] != found:
                self.seen.append(found)
            self._stop.wait(0.05)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def run_gate(world: World, options: MigrationsOptions) -> tuple[GateResult, Watcher]:
    before = reading(world.url(world.staging))
    with context(world) as ctx, Watcher(world.url(world.staging)) as watcher:
        result = MigrationsGate().run(ctx, options)
    if not watcher.seen or watcher.seen[0] != before:
        watcher.seen.insert(0, before)
    watcher.seen.append(reading(world.url(world.staging)))
    watcher.seen = [m for i, m in enumerate(watcher.seen) if i == 0 or m != watcher.seen[i - 1]]
    return result, watcher


def steps(result: GateResult) -> list[tuple[str, bool, str]]:
    return [(s["name"], s["ok"], s["reached"]) for s in result.evidence["steps"]]


def leftovers(world: World) -> tuple[Any, ...] | None:
    with psycopg.connect(world.url("postgres"), autocommit=True) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname LIKE 'stageline_rehearsal_%'),"
            " (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'stageline_rehearsal_%')"
        ).fetchone()


def test_alembic_reading_postgres_vars_only_migrates_the_copy(world: World) -> None:
    setup(world, "postgres_vars", POSTGRES_VARS)
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    migrate(world, "alembic", world.production, "alembic upgrade 0001_items")
    result, watcher = run_gate(world, MigrationsOptions())
    assert result.status == "passed", result.summary
    assert result.summary.startswith("0001_items -> 0002_items_note: downtime window")
    assert steps(result) == [
        ("prepare", True, "0001_items"), ("upgrade", True, "0002_items_note"),
        ("downgrade", True, "0001_items"), ("upgrade again", True, "0002_items_note"),
    ]  # fmt: skip
    assert len(watcher.seen) == 1, "the live staging database changed during the gate"
    assert result.evidence["tripwire"]["message"] == ""
    assert result.evidence["tripwire"]["sessions"] == []
    assert leftovers(world) == (0, 0)


def test_django_reading_db_vars_only_migrates_the_copy(world: World) -> None:
    setup(world, "django_corpus", DB_VARS)
    upgrade = "python manage.py migrate notes 0002 --noinput"
    migrate(world, "django", world.staging, upgrade)
    migrate(world, "django", world.production, "python manage.py migrate notes 0001 --noinput")
    result, watcher = run_gate(world, MigrationsOptions(tool="django", upgrade=upgrade))
    assert result.status == "passed", result.summary
    assert steps(result) == [
        ("prepare", True, "notes:0001_initial"), ("upgrade", True, "notes:0002_note_title"),
        ("downgrade", True, "notes:0001_initial"),
        ("upgrade again", True, "notes:0002_note_title"),
    ]  # fmt: skip
    assert len(watcher.seen) == 1, "the live staging database changed during the gate"
    assert leftovers(world) == (0, 0)


@pytest.mark.parametrize("literal", ["database", "database and user"])
def test_variables_naming_the_live_database_are_refused_before_anything_runs(
    world: World, literal: str
) -> None:
    variables = {**POSTGRES_VARS, "POSTGRES_DB": world.staging}
    aimed = {"POSTGRES_DB": "postgres.database"}
    if literal == "database and user":
        variables["POSTGRES_USER"] = PostgresFacts.from_url(world.url(world.staging)).user
        aimed["POSTGRES_USER"] = "postgres.user"
    setup(world, "postgres_vars", variables)
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    migrate(world, "alembic", world.production, "alembic upgrade 0001_items")
    result, watcher = run_gate(world, MigrationsOptions())
    assert result.status == "failed"
    assert result.summary.startswith(
        f"the migration would have reached the live database {world.staging}, so it was not run"
    )
    for name, fact in aimed.items():
        assert f'{name} = "${{{fact}}}"' in result.summary
    assert "interpolate them from ${postgres.*} in [environments.staging.vars]" in result.summary
    assert result.evidence["tripwire"]["aimed"] == aimed
    assert "steps" not in result.evidence  # nothing ran
    assert len(watcher.seen) == 1
    assert leftovers(world) == (0, 0)


def test_tool_reaching_the_live_database_on_its_own_is_caught(world: World) -> None:
    # TENANT is no database setting by its name, so nothing refuses it up front: the tool
    # runs, opens the live database as the copy's role, is turned away, and the tripwire
    # fails the gate
    setup(world, "postgres_vars", {**POSTGRES_VARS, "TENANT": world.staging})
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    migrate(world, "alembic", world.production, "alembic upgrade 0001_items")
    result, watcher = run_gate(world, MigrationsOptions())
    assert result.status == "failed"
    assert result.summary.startswith(f"the migration reached the live database {world.staging}")
    assert "it likely read TENANT" in result.summary
    assert "interpolate them from ${postgres.*} in [environments.staging.vars]" in result.summary
    tripwire = result.evidence["tripwire"]
    assert any("refused: the copy's role may open the copy only" in session
               for session in tripwire["sessions"]), tripwire  # fmt: skip
    assert result.report is not None
    assert result.report.read_text().startswith("FAILED: the migration reached the live database")
    assert len(watcher.seen) == 1
    assert leftovers(world) == (0, 0)


def test_first_release_is_proven_from_empty(world: World) -> None:
    setup(world, "postgres_vars", POSTGRES_VARS)
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    result, watcher = run_gate(world, MigrationsOptions())  # production: no revision yet
    assert result.status == "passed", result.summary
    assert result.evidence["route"] == "base -> 0002_items_note"
    assert result.summary.endswith("no earlier release to roll back to")
    assert steps(result) == [("upgrade", True, "0002_items_note")]
    assert "an empty database" in result.evidence["copy"]
    assert len(watcher.seen) == 1


def test_first_release_with_a_floor_rehearses_the_rollback_to_it(world: World) -> None:
    setup(world, "postgres_vars", POSTGRES_VARS)
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    result, _ = run_gate(world, MigrationsOptions(floor="0001_items"))
    assert result.status == "passed", result.summary
    assert steps(result) == [
        ("upgrade", True, "0002_items_note"), ("downgrade", True, "0001_items"),
        ("upgrade again", True, "0002_items_note"),
    ]  # fmt: skip
    assert "rollback to the floor 0001_items ok" in result.summary


@pytest.mark.parametrize("waived", [None, "2099-01-01", "2020-01-01"])
def test_not_null_column_breaks_the_previous_release_unless_waived(
    world: World, waived: str | None
) -> None:
    setup(world, "postgres_vars", POSTGRES_VARS)
    (world.bundle / "migrations" / "versions" / "0003_items_sku.py").write_text(NOT_NULL_SKU)
    migrate(world, "alembic", world.staging, "alembic upgrade head")
    migrate(world, "alembic", world.production, "alembic upgrade 0002_items_note")
    waivers = [
        {"match": "cannot write to `items`", "reason": "old release drained first",
         "expires": waived},
        {"match": "still uses items.note", "reason": "nothing reads note", "expires": waived},
    ] if waived else []  # fmt: skip
    result, watcher = run_gate(world, MigrationsOptions.model_validate({"waivers": waivers}))
    assert len(watcher.seen) == 1
    findings = result.evidence["findings"]
    sku = ("the previous release cannot write to `items` after this migration (sku is NOT "
           "NULL without a default)")  # fmt: skip
    note = "the previous release still uses items.note (dropped or renamed by this migration)"
    if waived == "2099-01-01":
        assert result.status == "passed", result.summary
        assert f"warn: {sku}" in findings and f"warn: {note}" in findings
        assert (
            f"waived: {sku} -- old release drained first (until 2099-01-01)"
            in result.evidence["waivers"]
        )
        assert result.report is not None and "waived" in result.report.read_text()
    else:
        assert result.status == "failed"
        assert result.summary == f"0002_items_note -> 0003_items_sku: {note} (+1 more)"
        assert f"fail: {sku}" in findings and f"fail: {note}" in findings
        expired = [line for line in result.evidence["waivers"] if line.startswith("expired")]
        assert len(expired) == (2 if waived else 0)


def test_django_pointed_at_the_live_database_is_caught(world: World) -> None:
    setup(world, "django_corpus", {**DB_VARS, "DB_NAME": world.staging})
    upgrade = "python manage.py migrate notes 0002 --noinput"
    migrate(world, "django", world.staging, upgrade)
    migrate(world, "django", world.production, "python manage.py migrate notes 0001 --noinput")
    result, watcher = run_gate(world, MigrationsOptions(tool="django", upgrade=upgrade))
    assert result.status == "failed"
    assert result.summary.startswith(
        f"the migration would have reached the live database {world.staging}, so it was not run"
    )
    assert 'DB_NAME = "${postgres.database}"' in result.summary
    assert len(watcher.seen) == 1  # nothing ran: nothing changed
    assert leftovers(world) == (0, 0)
