"""Backing services of an environment on this host: its own PostgreSQL server.

Each environment that declares ``postgres`` gets a server of its own under
``.stageline/envs/<env>/postgres/`` on a port chosen once and kept in ``port``, so staging
and production never share a server. Nobody reaches it without a password
(``scram-sha-256``): the service logs in as its own role, which owns its database and is
no superuser (:func:`postgres_facts`); stageline's own operations use the administrative
role (:func:`server_admin_url`, the one home of that URL). The passwords are kept like
secrets (``targets/credentials.py``). A server made by an older stageline, which trusted
loopback, is locked down on its next use (:func:`ensure_postgres`). ``external`` uses the
URL as given, for the service and for stageline alike.

Redis likewise (``[services.redis]``): ``system`` gives each environment a
``redis-server`` of its own under ``.stageline/envs/<env>/redis/`` (port kept in
``port``, bound to 127.0.0.1, its password sealed in ``secrets/redis.sealed``:
``services/redis.py``); ``external`` uses the URL as given.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from stageline.config.model import Environment, Postgres
from stageline.config.resolve import PostgresFacts, RedisFacts
from stageline.errors import BackingServiceError, UsageError
from stageline.services.postgres import (
    SUPERUSER,
    PgBinaries,
    PostgresServer,
    database_url,
    find_binaries,
    free_port,
)
from stageline.services.redis import RedisServer, find_server
from stageline.targets.credentials import (
    ensure_credentials,
    ensure_redis_password,
    load_credentials,
    load_redis_password,
    service_role,
)


def postgres_folder(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "postgres"


def database_name(pg: Postgres, service: str) -> str:
    return pg.database or service.replace("-", "_")


def _kept_port(home: Path, environment: str) -> int:
    port_file = postgres_folder(home, environment) / "port"
    return int(port_file.read_text()) if port_file.is_file() else 0


def postgres_facts(home: Path, env: Environment, service: str) -> PostgresFacts | None:
    """How the environment's service reaches its database, without starting anything:
    its own role and password (port 0 before the server's first start)."""
    pg = env.postgres
    if pg is None:
        return None
    if pg.provider == "external":
        return _external_facts(pg)
    port = _kept_port(home, env.name)
    database = database_name(pg, service)
    credentials = load_credentials(home, env.name)
    if credentials is None:  # not used yet, or trusting loopback until its next use
        return PostgresFacts("127.0.0.1", port, SUPERUSER, "", database)
    return PostgresFacts("127.0.0.1", port, credentials.role, credentials.password, database)


def server_admin_url(home: Path, env: Environment, database: str = "postgres") -> str:
    """The administrative URL of ``env``'s PostgreSQL server, connected to ``database``.

    The role may create and drop databases and roles: it is for stageline's own work on
    that server (snapshots, rehearsal copies and their roles, scans), never for a
    release's code. The URL holds the password: never print it. ``external`` servers
    give their configured URL (its role is the only one stageline knows). Raises
    ``UsageError`` when ``env`` declares no PostgreSQL or its server was never started.
    """
    pg = env.postgres
    if pg is None:
        raise UsageError(
            f"{env.name} has no PostgreSQL server",
            hint=f"declare [environments.{env.name}.services.postgres] in the pipeline file",
        )
    if pg.provider == "external":
        assert pg.url is not None
        return database_url(pg.url, database)
    port = _kept_port(home, env.name)
    if not port:
        raise UsageError(
            f"{env.name}'s PostgreSQL server was never started",
            hint=f"deploy to {env.name} first (`stageline deploy {env.name} REF`)",
        )
    credentials = load_credentials(home, env.name)
    password = credentials.admin_password if credentials else ""
    return PostgresFacts("127.0.0.1", port, SUPERUSER, password, database).url


def ensure_postgres(home: Path, env: Environment, service: str) -> PostgresFacts | None:
    """Start (creating on first use) the environment's server, its database and the
    service's role, which owns that database; returns the service's facts.

    A server that still trusts loopback (made by an older stageline) gets its passwords
    and a ``pg_hba.conf`` that requires them, and is reloaded.
    """
    pg = env.postgres
    if pg is None:
        return None
    if pg.provider == "external":
        return _external_facts(pg)
    binaries = find_binaries(pg.provider, pg.version)
    _check_extensions(binaries, pg)
    database = database_name(pg, service)
    credentials = ensure_credentials(home, env.name, service_role(database))
    server = environment_server(home, env.name, binaries, credentials.admin_password)
    server.init()
    if not server.is_running():
        server.start()
    server.require_passwords()
    server.create_database(database, tuple(pg.extensions))
    server.ensure_owner(database, credentials.role, credentials.password)
    return PostgresFacts("127.0.0.1", server.port, credentials.role, credentials.password, database)


def environment_server(
    home: Path, environment: str, binaries: PgBinaries, password: str | None = None
) -> PostgresServer:
    """``environment``'s server object (port chosen once); ``password`` is its admin's."""
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
    return PostgresServer(data, int(port_file.read_text()), binaries, password)


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


def redis_folder(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "redis"


def redis_facts(home: Path, env: Environment) -> RedisFacts | None:
    """How the environment's service reaches its Redis, starting nothing (port 0 and no
    password before the server's first start)."""
    redis = env.redis
    if redis is None:
        return None
    if redis.provider == "external":
        assert redis.url is not None
        return RedisFacts.from_url(redis.url)
    port_file = redis_folder(home, env.name) / "port"
    port = int(port_file.read_text()) if port_file.is_file() else 0
    return RedisFacts("127.0.0.1", port, load_redis_password(home, env.name) or "")


def redis_server(home: Path, environment: str) -> RedisServer | None:
    """``environment``'s own Redis server object, or None if it was never started."""
    folder = redis_folder(home, environment)
    password = load_redis_password(home, environment)
    if not (folder / "port").is_file() or password is None:
        return None
    return RedisServer(folder, int((folder / "port").read_text()), password)


def ensure_redis(home: Path, env: Environment) -> RedisFacts | None:
    """Start (creating on first use: port, password) the environment's own Redis server;
    returns the service's facts."""
    redis = env.redis
    if redis is None or redis.provider == "external":
        return redis_facts(home, env)
    program = find_server()
    folder = redis_folder(home, env.name)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "port").is_file():
        (folder / "port").write_text(str(free_port()))
    ensure_redis_password(home, env.name)
    server = redis_server(home, env.name)
    assert server is not None
    if not server.is_running():
        server.start(program)
    return RedisFacts("127.0.0.1", server.port, load_redis_password(home, env.name) or "")


def stop_redis(home: Path, env: Environment) -> bool:
    """Stop the environment's own Redis server if it runs; True when one was stopped."""
    if env.redis is None or env.redis.provider == "external":
        return False
    server = redis_server(home, env.name)
    if server is None or not server.is_running():
        return False
    server.stop()
    return True
