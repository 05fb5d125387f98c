from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stageline.errors import BackingServiceError
from stageline.host.procfs import is_alive
from stageline.services.postgres import (
    PgBinaries,
    PostgresServer,
    client_binaries,
    client_connection,
    database_url,
    find_binaries,
    free_port,
)

# .ci/run installs Debian's postgresql when no system binaries are found, so both run.
PROVIDERS = ["embedded", "system"]


@pytest.fixture
def new_server() -> Iterator[list[PostgresServer]]:
    """Servers a test makes; whatever is still running at the end is stopped."""
    servers: list[PostgresServer] = []
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_lifecycle(
    provider: str, postgres_dir: Path, new_server: list[PostgresServer]
) -> None:
    binaries = find_binaries(provider, None)  # type: ignore[arg-type]
    server = PostgresServer(postgres_dir / "pg" / "data", free_port(), binaries)
    new_server.append(server)
    server.init(durable=False)
    server.init(durable=False)  # a second init leaves the cluster alone
    assert not server.is_running()

    server.start()
    pid = server.pid
    assert pid is not None and server.is_running()

    server.create_database("shop")
    server.create_database("shop")  # idempotent
    password = server.password
    assert server.url("shop") == f"postgresql://stageline:{password}@127.0.0.1:{server.port}/shop"
    assert password not in repr(server)
    with psycopg.connect(server.url("shop")) as conn:
        row = conn.execute("SELECT current_database(), current_user, version()").fetchone()
    assert row is not None
    assert row[:2] == ("shop", "stageline")
    assert f"PostgreSQL {binaries.major}" in row[2]

    server.drop_database("shop")
    server.drop_database("shop")  # idempotent
    with psycopg.connect(server.url()) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert "shop" not in names

    server.stop()
    assert not server.is_running()
    assert server.pid is None
    assert not is_alive(pid)
    server.stop()  # stopping a stopped server is fine


def test_busy_port_gives_clear_error(postgres_dir: Path, new_server: list[PostgresServer]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = PostgresServer(postgres_dir / "data", port, find_binaries("embedded", None))
        new_server.append(server)
        server.init(durable=False)
        with pytest.raises(BackingServiceError) as info:
            server.start()
    assert str(port) in str(info.value)
    assert "in use" in str(info.value)  # the server log's tail says why
    assert not server.is_running()


def test_version_mismatch_names_the_alternative() -> None:
    with pytest.raises(BackingServiceError) as info:
        find_binaries("embedded", 9)
    assert "not 9" in str(info.value)
    assert info.value.hint is not None and "system" in info.value.hint


def test_missing_extension_points_at_system_provider(postgres_server: PostgresServer) -> None:
    with pytest.raises(BackingServiceError) as info:
        postgres_server.create_database("needs_ext", extensions=["no_such_extension"])
    assert info.value.hint is not None and "system" in info.value.hint
    postgres_server.drop_database("needs_ext")


def test_postgres_url_fixture_gives_an_empty_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_binaries_report_major_version() -> None:
    binaries = find_binaries("embedded", 16)
    assert binaries == PgBinaries(binaries.bin_dir, 16)
    assert (binaries.bin_dir / "pg_ctl").exists()


def test_client_binaries_match_the_server_major_whatever_provider_is_preferred(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url("postgres")
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    for preferred in (None, "embedded", "system"):
        chosen = client_binaries(url, preferred)
        assert chosen.major == major, (preferred, chosen)
        assert Path(chosen.program("pg_dump")).exists()


def test_database_url_swaps_only_the_database() -> None:
    url = "postgresql://ana:s3cret@127.0.0.1:5433/shop?sslmode=disable"
    assert database_url(url, "postgres") == (
        "postgresql://ana:s3cret@127.0.0.1:5433/postgres?sslmode=disable"
    )


def test_client_connection_keeps_the_password_off_the_command_line() -> None:
    conninfo, env = client_connection("postgresql://ana:s%40cret@127.0.0.1:5433/shop")
    assert "s@cret" not in conninfo and "password" not in conninfo
    assert "host=127.0.0.1" in conninfo and "dbname=shop" in conninfo and "user=ana" in conninfo
    assert env == {"PGPASSWORD": "s@cret"}
    assert client_connection("postgresql://ana@127.0.0.1:5433/shop")[1] == {}
