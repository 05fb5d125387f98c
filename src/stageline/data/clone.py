"""Clone a database from a template on the same server: the fastest copy PostgreSQL has.

``CREATE DATABASE new TEMPLATE old`` copies the template's files; PostgreSQL 15+ writes
the whole copy to the WAL by default (``STRATEGY WAL_LOG``), which is slow for a big
database, so we ask for ``STRATEGY FILE_COPY`` (a checkpoint and a plain file copy)
where the server has it.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from stageline.errors import BackingServiceError

FILE_COPY_SINCE = 150000  # server_version_num of PostgreSQL 15


def clone_statement(template: str, name: str, server_version: int) -> sql.Composed:
    """The CREATE DATABASE statement that clones ``template`` as ``name`` (pure)."""
    stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    if server_version >= FILE_COPY_SINCE:
        stmt = stmt + sql.SQL(" STRATEGY FILE_COPY")
    return stmt


def clone_database(admin_url: str, template: str, name: str) -> float:
    """Create database ``name`` on ``admin_url``'s server as a copy of ``template``.

    ``admin_url`` is a libpq URL to a maintenance database on that server, with a role
    allowed to CREATE DATABASE. Returns the seconds the clone took. Raises
    :class:`BackingServiceError` when the template does not exist or has other sessions
    connected, or when ``name`` exists already.
    """
    with _connect(admin_url) as conn:
        version = conn.info.server_version
        if not _exists(conn, template):
            raise BackingServiceError(
                f"cannot clone {template!r}: no such database",
                hint="`stageline snapshot list` shows the snapshots kept",
            )
        if _exists(conn, name):
            raise BackingServiceError(
                f"cannot clone {template!r} as {name!r}: database {name!r} exists",
                hint="drop it first, or pick another name",
            )
        started = time.perf_counter()
        try:
            conn.execute(clone_statement(template, name, version))
        except psycopg.errors.ObjectInUse as exc:
            raise BackingServiceError(
                f"cannot clone {template!r}: other sessions are connected to it ({exc})",
                hint="a template can only be copied while nobody is connected to it; "
                "stop what uses it and try again",
            ) from exc
        except psycopg.errors.DuplicateDatabase as exc:
            raise BackingServiceError(
                f"cannot clone {template!r} as {name!r}: database {name!r} exists",
                hint="drop it first, or pick another name",
            ) from exc
        except psycopg.Error as exc:
            raise BackingServiceError(f"cannot clone {template!r} as {name!r}: {exc}") from exc
        return time.perf_counter() - started


def _exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise BackingServiceError(
            f"cannot connect to PostgreSQL: {exc}".strip(), hint="is the server started?"
        ) from exc
