"""Alembic migrations rehearsed for real: the shop's v1.7.0-rc1 migration, and a
revision whose downgrade raises ("no rollback path from X to Y", never a crash)."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stageline.rehearsal.facts import Budgets
from stageline.rehearsal.judge import judge
from stageline.rehearsal.report import junit, text
from stageline.rehearsal.run import Plan, rehearse
from stageline.rehearsal.tools import Alembic, local_runner
from stageline.services.postgres import PostgresServer
from stageline.usecases.demo import example_source

IRREVERSIBLE = Path(__file__).parent / "alembic_corpus" / "irreversible"
BIN = Path(sys.executable).parent


def alembic(project: Path) -> Alembic:
    return Alembic(run=local_runner(), cwd=project, env={"PATH": str(BIN)}, bin_dir=BIN)


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"alembic_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def at_revision(server: PostgresServer, project: Path, database: str, revision: str) -> None:
    tool = alembic(project)
    tool.upgrade_command = f"alembic upgrade {revision}"
    step = tool.upgrade(server.url(database), "setup")
    assert step.ok, step.output


def test_irreversible_downgrade_is_a_finding(
    postgres_server: PostgresServer, database: str
) -> None:
    at_revision(postgres_server, IRREVERSIBLE, database, "0001_items")
    plan = Plan(
        admin_url=postgres_server.url("postgres"), source=database, method="template",
        migrator=alembic(IRREVERSIBLE), production_url=postgres_server.url(database),
    )  # fmt: skip
    facts = rehearse(plan)
    verdict = judge(facts, Budgets())
    assert [(s.name, s.ok) for s in facts.steps] == [("upgrade", True), ("downgrade", False)]
    assert facts.production_revision == "0001_items"
    assert facts.head_revision == "0003_drop_legacy"
    assert not verdict.passed
    message = verdict.failures[0].message
    assert message.startswith("no rollback path from 0003_drop_legacy to 0001_items")
    assert "0003_drop_legacy -> 0002_items_price" in message
    assert "irreversible" in message
    assert "no rollback path" in text(facts, verdict)
    assert '<failure message="no rollback path' in junit(facts, verdict)


def test_copy_ahead_of_production_is_brought_back_first(
    postgres_server: PostgresServer, database: str
) -> None:
    """Staging already runs the candidate: its copy must go back to production's revision
    before the baseline, and an irreversible step makes that the finding."""
    production = f"prod_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(production)
    try:
        at_revision(postgres_server, IRREVERSIBLE, production, "0001_items")
        at_revision(postgres_server, IRREVERSIBLE, database, "head")
        with psycopg.connect(postgres_server.url(database)) as conn:  # staging is in use
            conn.execute("SELECT count(*) FROM items").fetchone()
            plan = Plan(
                admin_url=postgres_server.url("postgres"), source=database, method="dump",
                migrator=alembic(IRREVERSIBLE), production_url=postgres_server.url(production),
                pg_bin=str(postgres_server.binaries.bin_dir),
            )  # fmt: skip
            facts = rehearse(plan)
    finally:
        postgres_server.drop_database(production)
    verdict = judge(facts, Budgets())
    assert [(s.name, s.ok) for s in facts.steps] == [("prepare", False)]
    assert "pg_dump | pg_restore" in facts.clone_method
    assert verdict.failures[0].message.startswith(
        "no rollback path from 0003_drop_legacy to 0001_items"
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The example service's migrations with its next release's revision in place."""
    source = example_source()
    project = tmp_path / "shop"
    shutil.copytree(source / "migrations", project / "migrations")
    shutil.copy2(source / "alembic.ini", project / "alembic.ini")
    for revision in (project / "migrations" / "versions_next").glob("*.py"):
        shutil.copy2(revision, project / "migrations" / "versions" / revision.name)
    return project


def test_shop_release_candidate_migration_passes(
    postgres_server: PostgresServer, database: str, shop: Path
) -> None:
    at_revision(postgres_server, shop, database, "0001_initial")
    with psycopg.connect(postgres_server.url(database), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO orders (customer_email, total_cents) "
            "SELECT 'c' || i || '@example.com', i FROM generate_series(1, 3000) i"
        )
    budgets = Budgets(max_stall_ms=1000, max_stall_ms_per_table=500)
    plan = Plan(
        admin_url=postgres_server.url("postgres"), source=database, method="template",
        migrator=alembic(shop), production_url=postgres_server.url(database), budgets=budgets,
    )  # fmt: skip
    facts = rehearse(plan)
    verdict = judge(facts, budgets)
    assert [(s.name, s.ok) for s in facts.steps] == [
        ("upgrade", True), ("downgrade", True), ("upgrade again", True),
    ]  # fmt: skip
    assert (facts.production_revision, facts.head_revision) == ("0001_initial", "0002_order_notes")
    assert verdict.passed, verdict.findings
    assert facts.schema_changes == [] and facts.data_losses == []
    assert facts.trace.rewrites == {} and facts.trace.full_scans == {}
    assert {s.table for s in facts.stalls} == {"orders", "order_lines", "products"}
    assert verdict.summary.startswith("0001_initial -> 0002_order_notes: downtime window")
