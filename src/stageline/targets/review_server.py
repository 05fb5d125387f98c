"""The one PostgreSQL server every review environment shares: a database and a role each.

Opening a review costs a clone, never an ``initdb``: the server is made once, under
``envs/review/_server/postgres/`` (its port kept in ``port``, its admin's password sealed
like any environment server's: ``targets/credentials.py``), and each review gets
``review_<slug>``, a database owned by a role of the same name with a password of its
own (sealed in ``envs/review/<slug>/secrets/postgres.sealed``), which can reach nothing
else: no superuser, no CREATEDB/CREATEROLE, and ``CONNECT`` on its own database only
(``PUBLIC`` loses ``CONNECT`` on every review database). Slugs never hold ``_``, so
``_server`` is no review's folder.

A review's database is a clone of the newest anonymized snapshot: the snapshot's
template database lives on its holding environment's server, so it is copied once into
this server as template ``tpl_<snapshot>`` (``pg_dump | pg_restore``, through a clone on
the holder because a template takes no connections), and every review after that is a
``CREATE DATABASE ... TEMPLATE`` (``data/clone.py``). Older ``tpl_*`` are dropped.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from stageline.config.model import Postgres
from stageline.config.resolve import PostgresFacts
from stageline.data.clone import clone_database
from stageline.data.copy import drop_database, make_template
from stageline.errors import BackingServiceError
from stageline.services.postgres import (
    PostgresServer,
    client_binaries,
    client_connection,
    database_url,
    find_binaries,
)
from stageline.targets.backing import environment_server, postgres_folder
from stageline.targets.credentials import ensure_credentials, load_credentials

#: the shared server's folder name among the review environments' (``envs/review/_server``)
SERVER = "review/_server"
TEMPLATE_PREFIX = "tpl_"


def server(home: Path, pg: Postgres, *, start: bool = True) -> PostgresServer:
    """The shared review server (made on first use; started and locked down if ``start``)."""
    binaries = find_binaries(pg.provider if pg.provider != "external" else "embedded", pg.version)
    admin = ensure_credentials(home, SERVER, "review").admin_password
    found = environment_server(home, SERVER, binaries, admin)
    if start:
        found.init()
        if not found.is_running():
            found.start()
        found.require_passwords()
    return found


def running_server(home: Path) -> PostgresServer | None:
    """The shared server if it was ever made and runs now (nothing is started)."""
    folder = postgres_folder(home, SERVER)
    credentials = load_credentials(home, SERVER)
    if credentials is None or not (folder / "port").is_file():
        return None
    version = (folder / "data" / "PG_VERSION").read_text().strip()
    for provider in ("embedded", "system"):
        try:
            binaries = find_binaries(provider, int(version))
        except BackingServiceError:
            continue
        found = PostgresServer(
            folder / "data", int((folder / "port").read_text()), binaries,
            credentials.admin_password,
        )  # fmt: skip
        return found if found.is_running() else None
    return None


def open_database(
    home: Path, pg: Postgres, environment: str, database: str, template: str | None
) -> PostgresFacts:
    """``database`` with its own role (sealed under ``environment``), a clone of
    ``template`` on the shared server, or empty when None; kept as it is when it exists.
    Returns how the review's service reaches it."""
    shared = server(home, pg)
    credentials = ensure_credentials(home, environment, database)
    with psycopg.connect(shared.url(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        fresh = exists.fetchone() is None
    if fresh and template is not None:
        clone_database(shared.url(), template, database)
    elif fresh:
        shared.create_database(database, tuple(pg.extensions))
    shared.ensure_owner(database, credentials.role, credentials.password)
    with psycopg.connect(shared.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(database)))  # fmt: skip
    return PostgresFacts("127.0.0.1", shared.port, credentials.role, credentials.password, database)


def drop(home: Path, database: str) -> None:
    """Drop a review's database and role (connections ended first); nothing if absent."""
    shared = running_server(home)
    if shared is None:
        return
    shared.drop_database(database)
    with psycopg.connect(shared.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(database)))


def leftovers(home: Path, database: str) -> tuple[bool, bool]:
    """Whether the shared server still has ``database``, and a role of that name."""
    shared = running_server(home)
    if shared is None:
        return False, False
    with psycopg.connect(shared.url(), autocommit=True) as conn:
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        has_db = db.fetchone() is not None
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (database,))
        return has_db, role.fetchone() is not None


def database_bytes(home: Path, prefix: str = "review_") -> int:
    """What the review databases of the shared server take on disk, together."""
    shared = running_server(home)
    if shared is None:
        return 0
    with psycopg.connect(shared.url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database "
            "WHERE datname LIKE %s",
            (prefix + "%",),
        ).fetchone()
    return int(row[0]) if row else 0


def ensure_template(home: Path, pg: Postgres, holder_admin_url: str, snapshot: str) -> str:
    """The shared server's copy of ``snapshot`` (a template database on its holder's
    server, reached by ``holder_admin_url``), made once; older copies are dropped."""
    shared = server(home, pg)
    name = (TEMPLATE_PREFIX + snapshot)[:63]
    admin = shared.url()
    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (TEMPLATE_PREFIX + "%",)
        ).fetchall()
    present = {str(row[0]) for row in rows}
    if name in present:
        return name
    scratch = (snapshot + "_review_copy")[:63]
    drop_database(holder_admin_url, scratch)
    clone_database(holder_admin_url, snapshot, scratch)
    try:
        drop_database(admin, name)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _dump_restore(database_url(holder_admin_url, scratch), shared.url(name))
        make_template(admin, name)
    except BaseException:
        drop_database(admin, name)
        raise
    finally:
        drop_database(holder_admin_url, scratch)
    for old in present:
        drop_database(admin, old)
    return name


def _dump_restore(source: str, target: str) -> None:
    """``pg_dump -Fc source | pg_restore --no-owner -d target``; BackingServiceError."""
    dump_bin, load_bin = client_binaries(source), client_binaries(target)
    src_conn, src_env = client_connection(source)
    dst_conn, dst_env = client_connection(target)
    dump = subprocess.Popen(
        [dump_bin.program("pg_dump"), "-Fc", "--no-owner", "--no-acl", "-d", src_conn],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_with(src_env),
    )  # fmt: skip
    load = subprocess.run(
        [load_bin.program("pg_restore"), "--no-owner", "--no-acl", "-d", dst_conn],
        stdin=dump.stdout, capture_output=True, text=True, env=_with(dst_env), check=False,
    )  # fmt: skip
    assert dump.stdout is not None and dump.stderr is not None
    dump.stdout.close()
    dump_err = dump.stderr.read().decode(errors="replace")
    if dump.wait() != 0 or load.returncode != 0:
        raise BackingServiceError(
            f"copying the snapshot into the review server failed: {dump_err}{load.stderr}"[:2000],
            hint="see `stageline snapshot list`; take a new snapshot if this one is damaged",
        )


def _with(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
