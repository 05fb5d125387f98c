"""Isolation: the variables re-resolved against a copy (pure), and a real copy with its
own role on a real server: it owns the copy, every other database turns it away, and
everything is gone afterwards."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.rehearsal.isolation import FENCE, aimed_at_live, copy_variables, isolate, suspects
from stageline.services.postgres import PostgresServer

LIVE = PostgresFacts("127.0.0.1", 5544, "stageline", "livepw", "shop")
COPY = PostgresFacts("127.0.0.1", 5544, "stageline_copy_1", "s3cr/t", "stageline_copy_1")

VARS = {
    "POSTGRES_SERVER": "${postgres.host}",
    "POSTGRES_PORT": "${postgres.port}",
    "POSTGRES_DB": "${postgres.database}",
    "POSTGRES_USER": "${postgres.user}",
    "POSTGRES_PASSWORD": "${postgres.password}",
    "SQLALCHEMY_URL": "${postgres.url}",
    "DB_DSN": "dbname=${postgres.database} user=${postgres.user}",
    "DB_NAME_LITERAL": "shop",
    "REPORTS_URL": "postgresql://stageline@127.0.0.1:5544/shop",
    "FEATURE": "on",
}


def environment(**more: object) -> Environment:
    return Environment.model_validate({
        "name": "staging", "tier": "staging", "url": "http://127.0.0.1:8603",
        "target": {"port": 8603}, "services": {"postgres": {"provider": "embedded"}},
        "vars": VARS, **more,
    })  # fmt: skip


def live_variables(env: Environment, secrets: dict[str, str] | None = None) -> dict[str, str]:
    resolved = service_environment(
        env, ReleaseFacts("1.7.0", "sha256:ab"), port=8603, postgres=LIVE, secrets=secrets or {}
    )
    return {**resolved, "STAGELINE_OUTBOX": "/srv/outbox"}


def test_every_postgres_var_points_at_the_copy() -> None:
    env = environment()
    copied = copy_variables(env, live_variables(env), COPY)
    assert copied["DATABASE_URL"] == COPY.url
    assert COPY.url == "postgresql://stageline_copy_1:s3cr%2Ft@127.0.0.1:5544/stageline_copy_1"
    assert copied["POSTGRES_SERVER"] == "127.0.0.1" and copied["POSTGRES_PORT"] == "5544"
    assert copied["POSTGRES_DB"] == "stageline_copy_1"
    assert copied["POSTGRES_USER"] == "stageline_copy_1"
    assert copied["POSTGRES_PASSWORD"] == "s3cr/t"
    assert copied["SQLALCHEMY_URL"] == COPY.url
    assert copied["DB_DSN"] == "dbname=stageline_copy_1 user=stageline_copy_1"
    for name, template in VARS.items():
        if "${postgres." in template:
            assert "shop" not in copied[name] and "livepw" not in copied[name], name


def test_literals_and_other_variables_are_kept() -> None:
    env = environment(secrets=["API_KEY"])
    copied = copy_variables(env, live_variables(env, {"API_KEY": "k-1"}), COPY)
    assert copied["DB_NAME_LITERAL"] == "shop" and copied["FEATURE"] == "on"
    assert copied["API_KEY"] == "k-1" and copied["STAGELINE_OUTBOX"] == "/srv/outbox"
    assert copied["STAGELINE_DIGEST"] == "sha256:ab" and copied["PORT"] == "8603"


def test_suspects_are_the_variables_still_naming_the_live_database() -> None:
    env = environment()
    copied = copy_variables(env, live_variables(env), COPY)
    assert suspects(copied, LIVE, COPY) == ["DB_NAME_LITERAL", "REPORTS_URL"]


def test_suspects_include_the_live_port_when_the_copy_is_elsewhere() -> None:
    elsewhere = PostgresFacts("127.0.0.1", 6000, "r", "p", "c")
    assert suspects({"PGPORT": "5544", "OTHER": "15544"}, LIVE, elsewhere) == ["PGPORT"]


@pytest.fixture
def live_db(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"live_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.url(name), autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'meh')")
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text, m mood)")
        conn.execute("CREATE VIEW names AS SELECT name FROM items")
        conn.execute("CREATE FUNCTION two() RETURNS int LANGUAGE sql AS 'SELECT 2'")
        conn.execute("INSERT INTO items (name, m) VALUES ('canary', 'ok')")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def test_isolate_gives_a_copy_the_role_owns_and_nothing_else(
    postgres_server: PostgresServer, live_db: str, tmp_path: Path
) -> None:
    release = tmp_path / "bundle"
    release.mkdir()
    (release / "alembic.ini").write_text("[alembic]\n")
    live = PostgresFacts.from_url(postgres_server.url(live_db))
    env = environment()
    with isolate(env, live, live_variables(env), release_dir=release) as iso:
        assert iso.copy.database != live_db and iso.copy.user == iso.copy.database
        assert len(iso.copy.password) >= 24
        assert iso.variables["POSTGRES_DB"] == iso.copy.database
        assert iso.workdir != release and (iso.workdir / "alembic.ini").is_file()
        (iso.workdir / "written-at-start.txt").write_text("x")
        with psycopg.connect(iso.copy.url, autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (iso.copy.user,)
            assert conn.execute("SELECT name FROM items").fetchall() == [("canary",)]
            conn.execute("ALTER TABLE items ADD COLUMN note text")  # owner: may change it
            conn.execute("INSERT INTO items (name, m) VALUES ('copy', 'meh')")
            conn.execute("ALTER TYPE mood ADD VALUE 'good'")
            conn.execute("CREATE OR REPLACE FUNCTION two() RETURNS int LANGUAGE sql AS 'SELECT 3'")
            conn.execute("ALTER VIEW names RENAME TO names2")
        live_as_role = PostgresFacts(live.host, live.port, iso.copy.user, iso.copy.password,
                                     live_db)  # fmt: skip
        for database in (live_db, "postgres"):  # turned away by every other database
            other = PostgresFacts(live.host, live.port, iso.copy.user, iso.copy.password,
                                  database)  # fmt: skip
            with pytest.raises(psycopg.OperationalError, match=FENCE):
                psycopg.connect(other.url).close()
        with psycopg.connect(postgres_server.url(live_db), autocommit=True) as conn:
            conn.execute(f"GRANT SELECT ON items TO {iso.copy.user}")  # even with a grant
        with pytest.raises(psycopg.OperationalError, match=FENCE):
            psycopg.connect(live_as_role.url).close()
        with psycopg.connect(postgres_server.url(live_db), autocommit=True) as conn:
            conn.execute(f"REVOKE SELECT ON items FROM {iso.copy.user}")
        name, role, workdir = iso.copy.database, iso.copy.user, iso.workdir
    assert not (release / "written-at-start.txt").exists()
    assert not workdir.exists()
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        )
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
    with psycopg.connect(postgres_server.url(live_db), autocommit=True) as conn:
        assert conn.execute("SELECT name FROM items").fetchall() == [("canary",)]


def test_isolate_cleans_up_when_the_block_fails(
    postgres_server: PostgresServer, live_db: str, tmp_path: Path
) -> None:
    live = PostgresFacts.from_url(postgres_server.url(live_db))
    env = environment()
    with (
        pytest.raises(RuntimeError, match="boom"),
        isolate(env, live, live_variables(env), release_dir=tmp_path) as iso,
    ):
        name = iso.copy.database
        raise RuntimeError("boom")
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = %s),"
            " (SELECT count(*) FROM pg_roles WHERE rolname = %s)", (name, name),
        ).fetchone()  # fmt: skip
    assert left == (0, 0)


def test_isolations_at_once_on_one_server_do_not_race(
    postgres_server: PostgresServer, live_db: str, tmp_path: Path
) -> None:
    """The migrations and pytest gates run in parallel: each makes, fences and drops a
    copy and a role on the same server. Without the catalog lock one fenced its role in
    the other's copy while that copy was dropped ("tuple concurrently deleted")."""
    live = PostgresFacts.from_url(postgres_server.url(live_db))
    env = environment()
    errors: list[BaseException] = []

    def one(index: int) -> None:
        folder = tmp_path / f"bundle{index}"
        folder.mkdir()
        try:
            for _ in range(4):
                with isolate(env, live, live_variables(env), release_dir=folder, method="empty"):
                    pass
        except BaseException as exc:  # reported below, with the thread's error
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'stageline_%'"
        ).fetchone()
    assert left == (0,)


def test_variables_naming_the_live_database_outright_are_aimed_at_it() -> None:
    copy = PostgresFacts("127.0.0.1", 5544, "stageline_copy_1", "copy-pw", "stageline_copy_1")
    live = PostgresFacts("127.0.0.1", 5544, "shop", "live-pw", "shop")
    variables = {
        "POSTGRES_DB": "shop",  # a database setting naming the live database
        "DB_USER": "shop",
        "PGPASSWORD": "live-pw",
        "REPORTS_URL": "postgresql://shop:live-pw@127.0.0.1:5544/shop",
        "LEGACY_DSN": "host=127.0.0.1 dbname=shop",
        "APP_NAME": "shop",  # not a database setting: a name is only a name
        "STAGELINE_OUTBOX": "/srv/shop/.stageline/envs/staging/outbox.jsonl",
        "DATABASE_URL": copy.url,  # re-resolved: the copy
        "POSTGRES_USER": copy.user,
        "HOME_URL": "https://shop.example/",
    }
    assert aimed_at_live(variables, live, copy) == {
        "POSTGRES_DB": "postgres.database",
        "DB_USER": "postgres.user",
        "PGPASSWORD": "postgres.password",
        "REPORTS_URL": "postgres.url",
        "LEGACY_DSN": "postgres.url",
    }
    assert "STAGELINE_OUTBOX" not in suspects(variables, live, copy)


def test_a_fully_interpolated_environment_is_aimed_at_nothing() -> None:
    interpolated = {k: v for k, v in VARS.items() if k not in ("DB_NAME_LITERAL", "REPORTS_URL")}
    env = environment(vars=interpolated)
    resolved = copy_variables(env, live_variables(env), COPY)
    assert resolved["POSTGRES_DB"] == COPY.database
    assert aimed_at_live(resolved, LIVE, COPY) == {}
    literal = environment()  # VARS writes two out: the live database, by name and by URL
    resolved = copy_variables(literal, live_variables(literal), COPY)
    assert aimed_at_live(resolved, LIVE, COPY) == {
        "DB_NAME_LITERAL": "postgres.database", "REPORTS_URL": "postgres.url",
    }  # fmt: skip
