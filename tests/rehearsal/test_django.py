"""Django migrations rehearsed for real: per-app targets from production's
``django_migrations``, an irreversible ``RunPython`` ("no rollback path"), and a failed
upgrade that leaves the database half-migrated (Django commits each migration)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.rehearsal.facts import Budgets
from stageline.rehearsal.judge import judge
from stageline.rehearsal.run import Plan, rehearse
from stageline.rehearsal.tools import Django, django_step, local_runner
from stageline.services.postgres import PostgresServer

PROJECT = Path(__file__).parent / "django_corpus"
BIN = Path(sys.executable).parent


def django(migrations: str) -> Django:
    env = {"PATH": str(BIN), "NOTES_MIGRATIONS": migrations, "PYTHONDONTWRITEBYTECODE": "1"}
    return Django(run=local_runner(), cwd=PROJECT, env=env, bin_dir=BIN)


@pytest.fixture
def production(postgres_server: PostgresServer) -> Iterator[str]:
    """A database where production's release applied notes 0001 only."""
    name = f"django_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        tool = django("irreversible")
        tool.upgrade_command = "python manage.py migrate notes 0001 --noinput"
        step = tool.upgrade(postgres_server.url(name), "setup")
        assert step.ok, step.output
        yield name
    finally:
        postgres_server.drop_database(name)


def plan(server: PostgresServer, source: str, migrations: str) -> Plan:
    return Plan(
        admin_url=server.url("postgres"), source=source, method="template",
        migrator=django(migrations), production_url=server.url(source),
    )  # fmt: skip


def test_irreversible_run_python_is_no_rollback_path(
    postgres_server: PostgresServer, production: str
) -> None:
    facts = rehearse(plan(postgres_server, production, "irreversible"))
    verdict = judge(facts, Budgets())
    assert facts.production_revision == "notes:0001_initial"
    assert facts.head_revision == "notes:0003_fill_titles"
    assert [(s.name, s.ok) for s in facts.steps] == [("upgrade", True), ("downgrade", False)]
    message = verdict.failures[0].message
    assert message.startswith(
        "no rollback path from notes:0003_fill_titles to notes:0001_initial"
    ), message
    assert "notes.0003_fill_titles" in message and "IrreversibleError" in message


def test_failed_upgrade_reports_the_state_reached(
    postgres_server: PostgresServer, production: str
) -> None:
    facts = rehearse(plan(postgres_server, production, "broken"))
    verdict = judge(facts, Budgets())
    assert [(s.name, s.ok) for s in facts.steps] == [("upgrade", False)]
    assert facts.steps[0].reached == "notes:0002_note_title"
    message = verdict.failures[0].message
    assert message.startswith("the upgrade failed at notes.0003_bad_index")
    assert "half-migrated at notes:0002_note_title" in message
    assert 'column "missing" does not exist' in message


def test_django_step() -> None:
    out = (
        "Operations to perform:\n  Applying notes.0002_note_title... OK\n  Applying notes.0003_x..."
    )
    assert django_step(out) == "notes.0003_x"
    assert django_step("nothing") == ""
