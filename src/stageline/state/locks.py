"""Named locks that hold across processes and hosts sharing one state store.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection
kept open for the lock's lifetime is the lock itself; the server drops it when that
connection ends, even if the process dies. The ``locks`` row only says who and since
when; its token carries the holder's backend pid so a loser can tell a fresh row from
a stale one.

SQLite: the ``locks`` row is the lock. It is checked and written inside ``BEGIN
IMMEDIATE`` (the database's write lock), so two processes cannot both insert it. A row
left by a process that died on this host is stale and taken over; a row from another
host is trusted.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from stageline.errors import LockHeld
from stageline.host.procfs import is_alive
from stageline.state.models import Lock

_HOLDER_WAIT_TRIES = 100  # x 20 ms: how long a loser waits for the winner's row
_UNKNOWN_SINCE = datetime(1970, 1, 1, tzinfo=UTC)


def environment_lock(environment: str) -> str:
    """The lock held by whatever changes what runs in ``environment`` (a deploy, a
    promotion, a rollback, ``down``): one at a time."""
    return f"deploy:{environment}"


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL advisory lock ids)."""
    raw = hashlib.sha256(f"stageline:{name}".encode()).digest()[:8]
    return int.from_bytes(raw, "big", signed=True)


def holder_label(holder: str, host: str, pid: int) -> str:
    return f"{holder}@{host} (pid {pid})"


def _held(row: Lock) -> LockHeld:
    return LockHeld(row.name, holder_label(row.holder, row.host, row.pid), row.since)


@contextmanager
def sqlite_lock(engine: Engine, name: str, holder: str) -> Iterator[None]:
    """Hold ``name`` via a row written under SQLite's write lock; LockHeld if taken."""
    host, pid, token = socket.gethostname(), os.getpid(), uuid.uuid4().hex
    with Session(engine) as session, session.begin():  # BEGIN IMMEDIATE (see store)
        row = session.get(Lock, name)
        if row is not None:
            if row.host != host or is_alive(row.pid):
                raise _held(row)
            session.delete(row)  # its process died: stale
            session.flush()
        session.add(Lock(name=name, holder=holder, pid=pid, host=host, since=_now(), token=token))
    try:
        yield
    finally:
        with Session(engine) as session, session.begin():
            session.execute(delete(Lock).where(Lock.name == name, Lock.token == token))


@contextmanager
def postgres_lock(engine: Engine, name: str, holder: str) -> Iterator[None]:
    """Hold ``name`` as a PostgreSQL advisory lock on a dedicated connection."""
    key = lock_key(name)
    conn = engine.connect()
    try:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        if not got:
            raise _postgres_holder(conn, name, key)
        token = ""  # the advisory lock must not go back to the pool with the connection
        try:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            token = f"pg{backend}-{uuid.uuid4().hex}"
            values = {
                "name": name,
                "holder": holder,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": _now(),
                "token": token,
            }
            upsert = pg_insert(Lock).values(**values)
            conn.execute(upsert.on_conflict_do_update(index_elements=[Lock.name], set_=values))
            yield
        finally:
            _postgres_release(conn, name, key, token)
    finally:
        conn.close()


def _postgres_release(conn: Connection, name: str, key: int, token: str) -> None:
    try:
        conn.execute(delete(Lock).where(Lock.name == name, Lock.token == token))
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    except DBAPIError:
        conn.invalidate()  # closing the broken connection frees the lock on the server


def _postgres_holder(conn: Connection, name: str, key: int) -> LockHeld:
    """Who holds ``name``: waits briefly for a winner that has not written its row yet."""
    holder_query = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid) AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    params = {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}
    columns = select(Lock.holder, Lock.host, Lock.pid, Lock.since, Lock.token)
    found = None
    for _ in range(_HOLDER_WAIT_TRIES):
        backend = conn.execute(holder_query, params).scalar()
        found = conn.execute(columns.where(Lock.name == name)).first()
        if found is not None and (backend is None or found.token.startswith(f"pg{backend}-")):
            break
        time.sleep(0.02)
    if found is None:
        return LockHeld(name, "another process (unknown)", _UNKNOWN_SINCE)
    return LockHeld(name, holder_label(found.holder, found.host, found.pid), found.since)


def _now() -> datetime:
    return datetime.now(UTC)
