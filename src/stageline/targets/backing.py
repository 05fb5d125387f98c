"""Backing services of an environment on this host: its own PostgreSQL server.

Each environment that declares ``postgres`` gets a server of its own under
``.stageline/envs/<env>/postgres/`` on a port chosen once and kept in ``port``, so staging
and production never share a server. ``external`` uses the URL as given.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stageline.config.model import Environment, Postgres
from stageline.config.resolve import PostgresFacts
from stageline.errors import BackingServiceError
from stageline.services.postgres import (
    SUPERUSER,
    PgBinaries,
    PostgresServer,
    find_binaries,
    free_port,
)


def postgres_folder(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "postgres"


def database_name(pg: Postgres, service: str) -> str:
    return pg.database or service.replace("-", "_")


def postgres_facts(home: Path, env: Environment, service: str) -> PostgresFacts | None:
    """How the environment's service reaches its database, without starting anything."""
    pg = env.postgres
    if pg is None:
        return None
    if pg.provider == "external":
        return _external_facts(pg)
    port_file = postgres_folder(home, env.name) / "port"
    port = int(port_file.read_text()) if port_file.is_file() else 0
    return PostgresFacts("127.0.0.1", port, SUPERUSER, "", database_name(pg, service))


def ensure_postgres(home: Path, env: Environment, service: str) -> PostgresFacts | None:
    """Start (creating on first use) the environment's server and its database."""
    pg = env.postgres
    if pg is None:
        return None
    if pg.provider == "external":
        return _external_facts(pg)
    binaries = find_binaries(pg.provider, pg.version)
    _check_extensions(binaries, pg)
    server = environment_server(home, env.name, binaries)
    server.init()
    if not server.is_running():
        server.start()
    database = database_name(pg, service)
    server.create_database(database, tuple(pg.extensions))
    return PostgresFacts("127.0.0.1", server.port, SUPERUSER, "", database)


def environment_server(home: Path, environment: str, binaries: PgBinaries) -> PostgresServer:
    folder = postgres_folder(home, environment)
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "port"
    if not port_file.is_file():
        port_file.write_text(str(free_port()))
    data = folder / "data"
    version_file = data / "PG_VERSION"
    if version_file.is_file() and int(version_file.read_text().strip()) != binaries.major:
        raise BackingServiceError(
            f"{environment}'s PostgreSQL data is version {version_file.read_text().strip()}, "
            f"the configured server is {binaries.major}",
            hint=f"set version = {version_file.read_text().strip()}, or remove {data}",
        )
    return PostgresServer(data, int(port_file.read_text()), binaries)


def stop_postgres(home: Path, env: Environment) -> bool:
    """Stop the environment's own server if it runs; True when one was stopped."""
    pg = env.postgres
    folder = postgres_folder(home, env.name)
    if pg is None or pg.provider == "external" or not (folder / "port").is_file():
        return False
    try:
        binaries = find_binaries(pg.provider, None)
    except BackingServiceError:
        return False
    server = PostgresServer(folder / "data", int((folder / "port").read_text()), binaries)
    if not server.is_running():
        return False
    server.stop()
    return True


def _external_facts(pg: Postgres) -> PostgresFacts:
    assert pg.url is not None
    return PostgresFacts.from_url(pg.url)


def _check_extensions(binaries: PgBinaries, pg: Postgres) -> None:
    if not pg.extensions:
        return
    proc = subprocess.run(
        [binaries.program("pg_config"), "--sharedir"], capture_output=True, text=True
    )
    share = Path(proc.stdout.strip()) if proc.returncode == 0 else binaries.bin_dir.parent / "share"
    missing = [e for e in pg.extensions if not (share / "extension" / f"{e}.control").is_file()]
    if not missing:
        return
    if pg.provider == "embedded":
        hint = (
            'the embedded server (pgserver) ships no contrib extensions: use provider = "system" '
            "with Debian's postgresql package, which has them"
        )
    else:
        hint = "install the package that provides it (e.g. postgresql-contrib), or drop it"
    raise BackingServiceError(
        f"PostgreSQL {binaries.major} from the {pg.provider} provider lacks extension(s) "
        f"{', '.join(missing)}",
        hint=hint,
    )
