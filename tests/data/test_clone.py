"""clone_database and newest_snapshot against a real PostgreSQL server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stageline.data.clone import FILE_COPY_SINCE, clone_database, clone_statement
from stageline.data.snapshot import newest_snapshot
from stageline.errors import BackingServiceError
from stageline.services.postgres import PostgresServer
from stageline.state.store import Store


@pytest.fixture
def template(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"tpl_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int primary key, v text)")
        conn.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def test_clone_copies_rows_and_reports_time(postgres_server: PostgresServer, template: str) -> None:
    name = f"clone_{uuid.uuid4().hex[:12]}"
    try:
        seconds = clone_database(postgres_server.url(), template, name)
        assert seconds > 0
        with psycopg.connect(postgres_server.url(name)) as conn:
            row = conn.execute("SELECT count(*), max(v) FROM t").fetchone()
        assert row == (100, "v99")
    finally:
        postgres_server.drop_database(name)


def test_clone_refuses_when_template_in_use(postgres_server: PostgresServer, template: str) -> None:
    name = f"clone_{uuid.uuid4().hex[:12]}"
    with (
        psycopg.connect(postgres_server.url(template)),
        pytest.raises(BackingServiceError, match="other sessions are connected"),
    ):
        clone_database(postgres_server.url(), template, name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as conn:
        gone = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert gone is None


def test_clone_refuses_existing_name_and_missing_template(
    postgres_server: PostgresServer, template: str
) -> None:
    with pytest.raises(BackingServiceError, match="exists"):
        clone_database(postgres_server.url(), template, "postgres")
    with pytest.raises(BackingServiceError, match="no such database"):
        clone_database(postgres_server.url(), "no_such_template_db", "x_never")


def test_clone_statement_uses_file_copy_where_available() -> None:
    assert "FILE_COPY" in clone_statement("a", "b", FILE_COPY_SINCE).as_string(None)
    old = clone_statement("a", "b", 140011).as_string(None)
    assert "FILE_COPY" not in old and 'TEMPLATE "a"' in old


def _add(store: Store, name: str, environment: str, counts: dict[str, int]) -> None:
    store.add_snapshot(
        name,
        source="production",
        environment=environment,
        rules_digest="sha256:x",
        row_counts=counts,
        size=10,
        duration=1.0,
        actor="me",
    )


def test_newest_snapshot_per_environment(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        assert newest_snapshot(store, "staging") is None
        _add(store, "snap_1", "staging", {"a": 1})
        _add(store, "snap_2", "staging", {"a": 2})
        _add(store, "snap_3", "test", {})
        newest = newest_snapshot(store, "staging")
        assert newest is not None and newest.name == "snap_2" and newest.row_counts == {"a": 2}
        assert store.mark_snapshot_dropped("snap_2") is not None
        assert store.mark_snapshot_dropped("snap_2") is None
        again = newest_snapshot(store, "staging")
        assert again is not None and again.name == "snap_1"
        names = [s.name for s in store.snapshots(include_dropped=True)]
        assert names == ["snap_3", "snap_2", "snap_1"]
