"""The scratch copy's statement log: every statement of the migration with its duration,
so a lock shorter than a sample is still seen and every lock names its statement.

``enable(admin_url, scratch)`` sets, **on the scratch database only** (``ALTER DATABASE
scratch SET``; the live database and the server's own settings are never changed),
``log_min_duration_statement = 0`` (each statement logged with its duration when it
ends) and ``log_lock_waits = on``. It needs a superuser; without one the rehearsal relies
on sampling alone and says so. The copy's own sessions (tracer, probes, long reader)
are told from the migration's by their pids.

``ServerLog`` finds the server's log (``pg_current_logfile()`` with the logging
collector, else stageline's own layout ``<data>.run/postgres.log``) and reads what was
appended during the upgrade through ``pg_read_file`` on the admin connection, so it works
wherever the server runs. ``parse`` (pure) turns the lines into ``Statement``s timed in
the rehearsal's clock: the tracer writes a marker statement at a known instant, and every
logged time is taken relative to the marker's (no time zone to guess). The default
``log_line_prefix`` (``%m [%p] ``: time and pid) is assumed; other prefixes yield nothing
and the report says the statement log was not readable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from stageline.rehearsal.facts import Statement

#: per-database settings of the scratch copy (superuser-only parameters)
SETTINGS = {"log_min_duration_statement": "0", "log_lock_waits": "on"}
MARK = "stageline rehearsal mark"
_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: [A-Za-z][\w+/-]*)? \[(\d+)\] (\w+):\s+(.*)$"
)
_DURATION = re.compile(r"^duration: ([\d.]+) ms\s+(?:statement|execute [^:]*): (.*)$", re.S)
_WAIT = re.compile(r"still waiting for (\w+) on relation (\d+)")


def quiet(conn: psycopg.Connection[Any]) -> None:
    """Keep the rehearsal's own session (tracer, probe, reader) out of the log: they run a
    statement every few milliseconds. Allowed to a superuser only; others stay logged
    (and are told apart by pid anyway)."""
    try:
        conn.execute("SET log_min_duration_statement = -1")
    except psycopg.errors.InsufficientPrivilege:
        if not conn.autocommit:
            conn.rollback()


def enable(admin_url: str, scratch: str) -> bool:
    """Turn the statement log on for database ``scratch`` only; False when not allowed."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            for name, value in SETTINGS.items():
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                        sql.Identifier(scratch), sql.Identifier(name), sql.Literal(value)
                    )
                )
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


class ServerLog:
    """The server's log file, read from an offset taken at ``start`` to its end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.path = ""
        self.offset = 0
        self.error = ""
        #: only the copy logs every statement (the server's own setting is off)
        self.copy_only = True

    def start(self) -> None:
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                row = conn.execute("SHOW log_min_duration_statement").fetchone()
                self.copy_only = row is not None and str(row[0]) == "-1"
                self.path = _log_path(conn)
                row = conn.execute("SELECT size FROM pg_stat_file(%s)", (self.path,)).fetchone()
                self.offset = int(row[0]) if row else 0
        except psycopg.Error as exc:
            self.error = f"the statement log is not readable: {str(exc).strip()[:200]}"
            self.path = ""

    def read(self) -> str:
        if not self.path:
            return ""
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT pg_read_file(%s, %s, 64 * 1024 * 1024)", (self.path, self.offset)
                ).fetchone()
        except psycopg.Error as exc:
            self.error = f"the statement log is not readable: {str(exc).strip()[:200]}"
            return ""
        return str(row[0]) if row and row[0] is not None else ""


def _log_path(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_current_logfile()").fetchone()
    if row and row[0]:
        path = str(row[0])
        if not path.startswith("/"):
            data = conn.execute("SHOW data_directory").fetchone()
            path = f"{data[0] if data else ''}/{path}"
        return path
    data = conn.execute("SHOW data_directory").fetchone()
    return f"{data[0] if data else ''}.run/postgres.log"


@dataclass(frozen=True)
class Logged:
    """What the log says of the migration: its statements (rehearsal clock, ms) and the
    lock waits it reported (mode, relation oid, ms since the upgrade started)."""

    statements: list[Statement]
    waits: list[tuple[str, int, float]]
    readable: bool


def _entries(text: str) -> list[tuple[datetime, int, str, str]]:
    """(time, pid, level, message) per entry; continuation lines join their entry."""
    entries: list[tuple[datetime, int, str, str]] = []
    for line in text.splitlines():
        found = _LINE.match(line)
        if found:
            stamp = datetime.fromisoformat(found.group(1))
            entries.append((stamp, int(found.group(2)), found.group(3), found.group(4)))
        elif entries:
            stamp, pid, level, message = entries[-1]
            entries[-1] = (stamp, pid, level, message + "\n" + line.strip())
    return entries


def parse(
    text: str, ours: set[int], mark_ms: float, end_ms: float,
    theirs: set[int] | None = None, strangers: bool = True,
) -> Logged:  # fmt: skip
    """The migration's statements and lock waits, logged after the marker statement and
    by ``end_ms``, timed relative to the marker (logged when it ended, at ``mark_ms`` in
    the rehearsal's clock). Pure.

    The migration's sessions are ``theirs`` (the pids the tracer saw), and, when
    ``strangers`` is true, any other session but ``ours`` (the tracer's, the probes', the
    long reader's): a tool session shorter than a sample is then still read. Pass
    ``strangers = False`` when other databases of the server log statements too (a
    server-wide ``log_min_duration_statement``): only the copy's are wanted."""
    entries = _entries(text)
    mark = next(
        (e for e in entries if e[1] in ours and MARK in e[3] and e[3].startswith("duration:")),
        None,
    )
    if mark is None:
        return Logged([], [], False)
    statements: list[Statement] = []
    waits: list[tuple[str, int, float]] = []
    for stamp, pid, _, message in entries:
        at = mark_ms + (stamp - mark[0]).total_seconds() * 1000.0
        if pid in ours or stamp < mark[0] or at > end_ms:
            continue
        if pid not in (theirs or set()) and not strangers:
            continue
        found = _DURATION.match(message)
        if found:
            took = float(found.group(1))
            text_ = " ".join(found.group(2).split()).rstrip(";").strip()
            statements.append(Statement(text_, round(at - took, 1), round(at, 1)))
            continue
        wait = _WAIT.search(message)
        if wait:
            waits.append((wait.group(1), int(wait.group(2)), round(at, 1)))
    return Logged(statements, waits, True)
