"""Schema and data fingerprints: identical schemas compare equal however they were made;
every difference is named."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from stageline.rehearsal.fingerprint import (
    TableData,
    data_diff,
    data_fingerprint,
    schema_diff,
    schema_fingerprint,
)
from stageline.services.postgres import PostgresServer

SCHEMA_A = """
CREATE EXTENSION IF NOT EXISTS plpgsql;
CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL DEFAULT '', age int);
CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users (id), body text);
CREATE INDEX ix_posts_user ON posts (user_id);
CREATE VIEW user_posts AS SELECT u.email, p.body FROM users u JOIN posts p ON p.user_id = u.id;
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
ALTER TABLE users ADD CONSTRAINT ck_age CHECK (age >= 0);
"""
# the same schema, built in another order and through a detour (a column added and dropped)
SCHEMA_B = """
CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
CREATE TABLE users (id serial PRIMARY KEY, junk int, email text NOT NULL DEFAULT '', age int);
ALTER TABLE users DROP COLUMN junk;
ALTER TABLE users ADD CONSTRAINT ck_age CHECK (age >= 0);
CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users (id), body text);
CREATE VIEW user_posts AS SELECT u.email, p.body FROM users u JOIN posts p ON p.user_id = u.id;
CREATE INDEX ix_posts_user ON posts (user_id);
"""


@pytest.fixture
def two(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    names = (f"fa_{uuid.uuid4().hex[:10]}", f"fb_{uuid.uuid4().hex[:10]}")
    for name in names:
        postgres_server.create_database(name)
    try:
        yield postgres_server.url(names[0]), postgres_server.url(names[1])
    finally:
        for name in names:
            postgres_server.drop_database(name)


def fingerprint(url: str, ddl: str) -> dict[str, dict[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl)  # type: ignore[arg-type]
        return schema_fingerprint(conn)


def test_identical_schemas_compare_equal(two: tuple[str, str]) -> None:
    a, b = fingerprint(two[0], SCHEMA_A), fingerprint(two[1], SCHEMA_B)
    assert schema_diff(a, b) == []
    assert "public.users.email" in a["column"]
    assert a["column"]["public.users.email"] == "#2 text not null default ''::text"
    assert set(a["index"]) == {"public.ix_posts_user", "public.posts_pkey", "public.users_pkey"}
    assert "public.twice(x integer)" in a["function"]
    assert "public.user_posts" in a["view"]
    assert "public.users_id_seq" in a["sequence"]


def test_every_difference_is_named(two: tuple[str, str]) -> None:
    a = fingerprint(two[0], SCHEMA_A)
    b = fingerprint(two[1], SCHEMA_A + "ALTER TABLE users ALTER age TYPE bigint;"
                    "DROP INDEX ix_posts_user; CREATE TABLE extra (x int);")  # fmt: skip
    found = {(c.kind, c.name, c.change) for c in schema_diff(a, b)}
    assert found == {
        ("column", "public.users.age", "changed"),
        ("index", "public.ix_posts_user", "removed"),
        ("table", "public.extra", "added"),
        ("column", "public.extra.x", "added"),
    }


def test_data_fingerprint_sees_changed_values_not_order(two: tuple[str, str]) -> None:
    ddl = "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a'), (2, NULL), (3, 'c');"
    with psycopg.connect(two[0], autocommit=True) as conn:
        conn.execute(ddl)  # type: ignore[arg-type]
        before = data_fingerprint(conn)
        conn.execute("UPDATE t SET v = v")  # every row moves: a new physical order
        same = data_fingerprint(conn)
        conn.execute("UPDATE t SET v = NULL WHERE id = 3")
        after = data_fingerprint(conn)
    assert before["t"].rows == 3
    assert data_diff(before, same) == []
    assert [(d.table, d.column) for d in data_diff(before, after)] == [("t", "v")]


def test_data_diff_rows_and_missing() -> None:
    before = {"t": TableData(3, {"a": "x"}, 8192), "gone": TableData(1, {}, 8192)}
    after = {"t": TableData(2, {"a": "x"}, 8192)}
    losses = data_diff(before, after)
    assert [(d.table, d.column, d.detail) for d in losses] == [
        ("t", None, "3 rows before, 2 after")
    ]
    assert losses[0].name == "t"
