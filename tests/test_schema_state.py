"""Reading and recording schema revisions: a real PostgreSQL database, a real store."""

from __future__ import annotations

from pathlib import Path

import psycopg

from stageline.rehearsal.tools import Django, local_runner
from stageline.state import Store
from stageline.usecases.schema_state import detect_tool, expected_revision, read_revision
from tests.state.test_store import artifact


def test_the_tool_and_revision_are_detected_from_the_database(postgres_url: str) -> None:
    assert detect_tool(postgres_url) is None
    assert read_revision(postgres_url, None) is None
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        assert read_revision(postgres_url, "alembic") == "base"
        conn.execute("INSERT INTO alembic_version VALUES ('0002_order_notes')")
    assert detect_tool(postgres_url) == "alembic"
    assert read_revision(postgres_url, "alembic") == "0002_order_notes"


def test_django_revisions_are_one_target_per_app(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE django_migrations (id serial PRIMARY KEY, app text, name text, "
            "applied timestamptz DEFAULT now())"
        )
        conn.execute(
            "INSERT INTO django_migrations (app, name) VALUES "
            "('shop', '0001_initial'), ('shop', '0002_notes'), ('auth', '0001_initial')"
        )
    assert detect_tool(postgres_url) == "django"
    assert read_revision(postgres_url, "django") == "auth:0001_initial,shop:0002_notes"


def test_the_older_release_revision_comes_from_this_environment_first(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        old, new = artifact(1), artifact(2)
        store.add_artifact(old)
        store.add_artifact(new)
        assert expected_revision(store, "production", old.digest) == (None, None)

        staged = store.start_deployment("staging", old.digest, actor="a", kind="deploy")
        store.finish_deployment(staged.id, "succeeded")
        store.record_schema_revision(staged.id, "0001")
        assert expected_revision(store, "production", old.digest) == ("0001", "staging")

        first = store.start_deployment("production", old.digest, actor="a", kind="deploy")
        store.finish_deployment(first.id, "succeeded")
        store.record_schema_revision(first.id, "0002")
        failed = store.start_deployment("production", old.digest, actor="a", kind="deploy")
        store.finish_deployment(failed.id, "failed", "did not start")
        store.record_schema_revision(failed.id, "0009")
        assert expected_revision(store, "production", old.digest) == ("0002", "production")
        assert store.current_deployment("production").schema_revision == "0002"  # type: ignore[union-attr]


def test_the_django_downgrade_is_one_command_per_app_that_differs() -> None:
    tool = Django(run=local_runner(), cwd=Path("."), env={})
    assert tool.downgrade_commands(
        "auth:0002_users,notes:0003_tags,shop:0001_initial", "auth:0002_users,notes:0001_initial"
    ) == [
        "python manage.py migrate notes 0001_initial --noinput",
        "python manage.py migrate shop zero --noinput",
    ]
    tool.downgrade_command = "./manage migrate {app} {migration}"
    assert tool.downgrade_commands("shop:0002", "shop:0001") == ["./manage migrate shop 0001"]
