"""The tripwire: while a gate runs release code on a copy, watch the live database.

Two checks, either of which fails the gate:

- **Sessions.** A thread polls ``pg_stat_activity`` of the live database (from the
  server's maintenance database, so the watcher is not itself a session there) and
  reports every session that appeared after it started and carries a sign of the gate:
  the copy's role (``Tripwire.roles``), the application name the gate's processes get
  through ``PGAPPNAME`` (``applications``), or a client port that belongs to a process of
  the gate's process groups (``pids``, mapped through ``/proc/net/tcp``). Sessions of the
  service itself use its own role, no such application name and ports of its own
  processes, so they never count.
- **Refusals.** The copy's role is turned away by every other database
  (``isolation.FENCE``), and every server requires passwords, so a role the code was
  not given fails to authenticate; the gate hands the output of the release code to
  ``Guard.read_output``, which counts each refusal as a contact: the code tried a
  database or a role it was not given, most likely the live one.
- **Marks.** ``live_marks`` before and after the gate: the schema fingerprint and the
  migration tools' bookkeeping (``alembic_version``, ``django_migrations``). A session
  too short for the poll still leaves these behind.

``verdict`` (pure) turns what was seen into the failure message, naming the variables
that likely pointed there (``isolation.suspects``) and how to fix them. ``guard`` does
all of it around a block that runs release code on an ``isolation.Isolated`` copy.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import psycopg

from stageline.host.procfs import group_members, local_ports
from stageline.rehearsal.fingerprint import Schema, schema_diff, schema_fingerprint
from stageline.rehearsal.isolation import FENCE, Isolated, suspects
from stageline.services.postgres import database_url

#: libpq's words when a server turns a role's password away
_AUTH_FAILED = re.compile(r'password authentication failed for user "([^"]+)"')

_SESSIONS = """
SELECT pid, coalesce(usename, ''), coalesce(application_name, ''),
       coalesce(host(client_addr), 'local'), coalesce(client_port, -1), backend_start,
       left(coalesce(query, ''), 200)
FROM pg_stat_activity
WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""

_BOOKKEEPING = ("alembic_version", "django_migrations")


@dataclass(frozen=True)
class Contact:
    """A session of the gate seen on the live database."""

    backend: int
    user: str
    application: str
    client: str
    why: str
    query: str = ""

    def describe(self) -> str:
        if self.backend == 0:
            return f"a connection as {self.user} from {self.client} ({self.why})"
        return f"a session as {self.user} from {self.client} ({self.why})"


@dataclass(frozen=True)
class LiveMarks:
    """What release code would change in the live database: its schema and the migration
    tools' bookkeeping rows."""

    schema: Schema
    bookkeeping: dict[str, list[str]] = field(default_factory=dict)


def live_marks(url: str) -> LiveMarks:
    """The marks of the database at ``url`` (a superuser or owner connection)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        schema = schema_fingerprint(conn)
        kept: dict[str, list[str]] = {}
        for table in _BOOKKEEPING:
            found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            if found is not None and found[0] is not None:
                rows = conn.execute(f"SELECT * FROM {table}").fetchall()
                kept[table] = sorted(repr(tuple(row)) for row in rows)
    return LiveMarks(schema, kept)


def marks_diff(before: LiveMarks, after: LiveMarks) -> list[str]:
    """What changed between two readings of the live database, as short phrases. Pure."""
    changes = [change.describe() for change in schema_diff(before.schema, after.schema)]
    for table in sorted(set(before.bookkeeping) | set(after.bookkeeping)):
        if before.bookkeeping.get(table) != after.bookkeeping.get(table):
            changes.append(f"{table} changed")
    return changes


class Tripwire:
    """Watches the live database ``database`` on the server of ``admin_url`` (a superuser
    connection to any database of it) for sessions of the gate; use as a context manager,
    then read ``contacts`` (and ``error`` if the watch itself failed)."""

    def __init__(
        self,
        admin_url: str,
        database: str,
        *,
        roles: Iterable[str],
        applications: Iterable[str],
        pids: Callable[[], set[int]],
        interval: float = 0.02,
    ) -> None:
        self.url = database_url(admin_url, "postgres")
        self.database = database
        self.roles = frozenset(roles)
        self.applications = frozenset(a for a in applications if a)
        self.pids = pids
        self.interval = interval
        self.contacts: list[Contact] = []
        self.error = ""
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tripwire", daemon=True)

    def __enter__(self) -> Tripwire:
        self._thread.start()
        self._ready.wait(15)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(30)

    def _watch(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                before = {row[0] for row in conn.execute(_SESSIONS, (self.database,))}
                self._ready.set()
                seen: set[tuple[int, datetime]] = set()
                while True:
                    stopping = self._stop.is_set()  # one last look after the gate ended
                    rows = conn.execute(_SESSIONS, (self.database,)).fetchall()
                    fresh = [r for r in rows if r[0] not in before and (r[0], r[5]) not in seen]
                    self._judge(fresh, seen)
                    if stopping:
                        return
                    self._stop.wait(self.interval)
        except psycopg.Error as exc:
            self.error = f"the tripwire could not watch {self.database}: {str(exc).strip()[:200]}"
        finally:
            self._ready.set()

    def _judge(self, rows: list[Any], seen: set[tuple[int, datetime]]) -> None:
        ports: dict[int, int] | None = None
        for pid, user, application, address, port, started, query in rows:
            why = ""
            if user in self.roles:
                why = f"the copy's role {user}"
            elif application in self.applications:
                why = f"application name {application}, set for the gate's processes"
            elif port > 0:
                if ports is None:
                    ports = local_ports(group_members(self.pids()))
                if port in ports:
                    why = f"its client is process {ports[port]} of the gate"
            if why:
                seen.add((pid, started))
                client = address if port < 0 else f"{address}:{port}"
                self.contacts.append(Contact(pid, user, application, client, why, query))


def verdict(
    contacts: list[Contact],
    changes: list[str],
    suspects: list[str],
    *,
    what: str,
    database: str,
    environment: str,
) -> str | None:
    """The failure message when ``what`` ("the migration", "the test suite") reached the
    live ``database``, else None. Pure."""
    if not contacts and not changes:
        return None
    seen = []
    if contacts:
        first = contacts[0].describe()
        more = f" and {len(contacts) - 1} more" if len(contacts) > 1 else ""
        seen.append(f"{first}{more}")
    if changes:
        more = f" (+{len(changes) - 3} more)" if len(changes) > 3 else ""
        shown = "; ".join(changes[:3]) + more
        seen.append(f"it changed: {shown}")
    if suspects:
        cause = (
            f"it likely read {', '.join(suspects)} (their values name the live database): "
            f"interpolate them from ${{postgres.*}} in [environments.{environment}.vars] "
            '(e.g. POSTGRES_DB = "${postgres.database}") so the gate can point them at a copy'
        )
    else:
        cause = (
            "none of the variables it was given names the live database: it reads its "
            "own configuration (alembic.ini's sqlalchemy.url, a settings file, a default); "
            "make it read DATABASE_URL or variables interpolated from ${postgres.*}"
        )
    return f"{what} reached the live database {database}: {'; '.join(seen)}; {cause}"


@dataclass
class Guard:
    """What ``guard`` saw; filled when its block ends."""

    what: str
    database: str
    contacts: list[Contact] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    suspects: list[str] = field(default_factory=list)
    watch_error: str = ""
    #: the failure message ("... reached the live database ..."), "" when untouched
    message: str = ""
    role: str = ""
    fenced: bool = True

    def read_output(self, output: str) -> None:
        """Count the server's refusals found in release code's output: the copy's role
        turned away from another database, or a role the code was not given (servers
        require passwords, so a role other than the copy's fails to authenticate)."""
        if FENCE in output:
            self.contacts.append(Contact(
                0, self.role, "", "the gate's processes",
                "refused: the copy's role may open the copy only",
            ))  # fmt: skip
        for role in sorted(set(_AUTH_FAILED.findall(output))):
            self.contacts.append(Contact(
                0, role, "", "the gate's processes",
                f"refused: the code connected as {role}, a role it was not given",
            ))  # fmt: skip

    def evidence(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "database": self.database,
            "sessions": [c.describe() for c in self.contacts][:20],
            "changes": self.changes[:20],
            "suspects": self.suspects if self.message else [],
            "watch_error": self.watch_error,
            "fenced": self.fenced,
        }


@contextmanager
def guard(
    iso: Isolated,
    *,
    what: str,
    environment: str,
    applications: Iterable[str],
    pids: Callable[[], set[int]],
) -> Iterator[Guard]:
    """Watch ``iso``'s live database while the block runs release code on the copy:
    the marks before and after, and the sessions in between."""
    found = Guard(what, iso.live.database, role=iso.copy.user, fenced=iso.fenced)
    before = live_marks(iso.live.url)
    wire = Tripwire(
        iso.admin_url, iso.live.database, roles={iso.copy.user}, applications=applications,
        pids=pids,
    )  # fmt: skip
    with wire:
        yield found
    found.contacts = wire.contacts + found.contacts
    found.watch_error = wire.error
    found.changes = marks_diff(before, live_marks(iso.live.url))
    found.suspects = suspects(iso.variables, iso.live, iso.copy)
    message = verdict(
        found.contacts, found.changes, found.suspects, what=what,
        database=iso.live.database, environment=environment,
    )  # fmt: skip
    found.message = message or ""
