"""Isolation: release code that is not the service itself runs against a copy, never the
live database.

A gate that runs the release's own code with a database (the ``migrations`` rehearsal,
the ``pytest`` gate) calls ``isolate``, which

1. makes a scratch copy of the live database on the same server (``make_copy``: a
   template copy of a snapshot, or ``pg_dump | pg_restore`` of a database in use);
2. creates a login role with a random password that owns the copy and everything in it,
   and has no privilege anywhere else (``create_role``); every URL it hands out carries
   that password, so it works the same on a ``trust`` server and on a ``scram-sha-256``
   one. The role cannot even open another database of the server: a per-database
   setting of the role (``session_preload_libraries`` naming ``FENCE``, a library that
   does not exist) makes the server turn its connections away with ``FATAL: could not
   access file "<FENCE>"``, without changing what anyone else may do. The tripwire
   (``stageline.rehearsal.tripwire``) recognises that message in the release code's output;
3. re-resolves the service's variables against the copy (``copy_variables``): every
   variable interpolated from ``${postgres.*}`` and ``DATABASE_URL`` name the copy, the
   role and its password. A variable written out literally keeps its value:
   ``suspects`` names those that still point at the live database;
4. copies the release folder (``scratch_folder``) so the code's own writes (caches,
   collected files, sqlite files) land in a throw-away folder.

On the way out the copy, the role and the folder are removed, whatever happened.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import sql

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.data.clone import clone_database
from stageline.errors import BackingServiceError, ReachesLive
from stageline.host import persist
from stageline.host.release_folder import writable
from stageline.services.postgres import client_binaries, client_connection, database_url

CloneMethod = Literal["template", "dump", "empty"]
#: what the server says when the copy's role tries another database (see ``create_role``)
FENCE = "stageline_copy_role_only_opens_its_copy"


@dataclass(frozen=True)
class Isolated:
    """A live database's scratch copy, ready for release code."""

    #: the live database, as the service reaches it
    live: PostgresFacts
    #: the copy, as release code reaches it: its own role and password
    copy: PostgresFacts
    #: a superuser connection to the server's maintenance database
    admin_url: str
    #: the complete variable set re-resolved against the copy
    variables: dict[str, str]
    #: the scratch copy of the release folder
    workdir: Path
    #: how the copy was made, and in how many seconds
    how: str
    seconds: float
    #: whether every other database turns the copy's role away (``FENCE``)
    fenced: bool = True
    #: variables that still name the live database outright (see ``aimed_at_live``)
    aimed: dict[str, str] = field(default_factory=dict)

    def refuse_if_aimed(self, what: str, environment: str) -> None:
        """Raise :class:`ReachesLive` when release code would get the live database
        outright: call it before running anything on the copy."""
        if self.aimed:
            raise ReachesLive(what, environment, self.live.database, self.aimed)


def scratch_name(prefix: str = "stageline_copy") -> str:
    """A fresh database (and role) name, unique on the server."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


#: set to "1" in the variables of release code run on a copy (never for the service)
COPY_VARIABLE = "STAGELINE_DATABASE_COPY"


def copy_variables(
    env: Environment, variables: Mapping[str, str], copy: PostgresFacts
) -> dict[str, str]:
    """``variables`` (the service's, as resolved for the live database) re-resolved with
    ``copy`` as the ``postgres.*`` facts: every var of ``[environments.X.vars]`` is
    interpolated again, ``DATABASE_URL`` is the copy's; anything else is kept.
    ``STAGELINE_DATABASE_COPY=1`` tells the release's code that its database is a
    throwaway copy (a test suite may then use it as its own)."""
    release = ReleaseFacts(
        variables.get("STAGELINE_VERSION", ""), variables.get("STAGELINE_DIGEST", "")
    )
    port = int(variables.get("PORT", "") or env.target.port)
    given = {name: variables.get(name, "") for name in env.secrets}
    resolved = service_environment(env, release, port=port, postgres=copy, secrets=given)
    return {**variables, **resolved, COPY_VARIABLE: "1"}


def suspects(variables: Mapping[str, str], live: PostgresFacts, copy: PostgresFacts) -> list[str]:
    """Names of ``variables`` whose value still names the live database: its name, its
    user (when not the copy's), or its host:port (when the copy is elsewhere); stageline's
    own ``STAGELINE_*`` variables (paths, names) are not the service's settings. Pure."""
    marks = [live.database]
    if live.user and live.user != copy.user:
        marks.append(live.user)
    if (live.host, live.port) != (copy.host, copy.port):
        marks.append(str(live.port))
    patterns = [re.compile(rf"(?<![\w-]){re.escape(mark)}(?![\w-])") for mark in marks if mark]
    return sorted(
        name
        for name, value in variables.items()
        if not name.startswith("STAGELINE_") and any(p.search(value) for p in patterns)
    )


#: names of variables that hold a database setting (a bare value such as a database or
#: user name counts only in these; a URL or key=value DSN counts in any variable)
_DATABASE_SETTING = re.compile(r"DB|DATABASE|POSTGRES|PG|SQL", re.IGNORECASE)
_DSN_WORD = re.compile(r"\b(dbname|user)\s*=\s*'?([^\s']+)")


def aimed_at_live(
    variables: Mapping[str, str], live: PostgresFacts, copy: PostgresFacts
) -> dict[str, str]:
    """The variables that still name the live database outright once re-resolved for the
    copy (written literally in the pipeline file rather than interpolated), each with the
    ``${postgres.*}`` fact it should interpolate instead. Code given these would open live
    data: the gate refuses to run it at all. Pure.

    A value names the live database when it is a URL or DSN whose database or user is the
    live one, or, in a variable named like a database setting (``DB``, ``DATABASE``,
    ``POSTGRES``, ``PG``, ``SQL``), when it equals the live database's name, its user
    (when not the copy's) or its password."""
    other_user = live.user if live.user and live.user != copy.user else ""
    other_password = live.password if live.password and live.password != copy.password else ""
    found: dict[str, str] = {}
    for name, value in variables.items():
        if name.startswith("STAGELINE_") or not value:
            continue
        if _names_live(value, live.database, other_user):
            found[name] = "postgres.url"
        elif _DATABASE_SETTING.search(name):
            facts = [fact for fact, text in (("postgres.database", live.database),
                     ("postgres.user", other_user), ("postgres.password", other_password))
                     if text and value == text]  # fmt: skip
            if facts:  # a database named like its role: the variable's name tells which
                hinted = [f for f in facts if f.split(".")[1][:4].upper() in name.upper()]
                found[name] = (hinted or facts)[0]
    return found


def _names_live(value: str, database: str, user: str) -> bool:
    """Whether ``value`` is a PostgreSQL URL or key=value DSN for ``database`` or ``user``."""
    if "://" in value:
        parts = urlsplit(value)
        return parts.scheme.startswith("postgres") and (
            unquote(parts.path.lstrip("/")) == database
            or bool(user and unquote(parts.username or "") == user)
        )
    return any(
        (key == "dbname" and word == database) or (key == "user" and bool(user) and word == user)
        for key, word in _DSN_WORD.findall(value)
    )


#: the advisory lock (on the server's maintenance database) under which copies and their
#: roles are created, fenced and dropped: two gates isolating at once on one server would
#: otherwise race on the catalog ("tuple concurrently deleted": one fences its role in the
#: other's copy while that copy is dropped)
CATALOG_LOCK = 0x5374_6C49_736F  # "StlIso"


@contextmanager
def catalog_lock(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Hold :data:`CATALOG_LOCK` on ``conn`` (autocommit) for the block."""
    conn.execute("SELECT pg_advisory_lock(%s)", (CATALOG_LOCK,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (CATALOG_LOCK,))


def make_copy(
    admin_url: str, source: str, scratch: str, method: CloneMethod, pg_bin: str = ""
) -> tuple[str, float]:
    """Create database ``scratch`` from ``source``: ``template`` (nobody may be connected
    to ``source``), ``dump`` (works while it is in use), ``empty``. Returns (how, seconds)."""
    started = time.monotonic()
    if method == "template":
        seconds = clone_database(admin_url, source, scratch)
        return f"template copy of {source} (CREATE DATABASE ... TEMPLATE)", seconds
    with psycopg.connect(admin_url, autocommit=True) as conn, catalog_lock(conn):
        create = sql.SQL("CREATE DATABASE {} TEMPLATE template0")
        conn.execute(create.format(sql.Identifier(scratch)))
    if method == "empty":
        return "an empty database (production has none yet)", time.monotonic() - started
    _dump_restore(admin_url, source, scratch, pg_bin)
    return f"pg_dump | pg_restore of {source} (works while it is in use)", (
        time.monotonic() - started
    )


def _dump_restore(admin_url: str, source: str, scratch: str, pg_bin: str) -> None:
    # the connection strings go on the command line without the password (see
    # client_connection), which travels in each program's environment
    src, src_env = client_connection(database_url(admin_url, source))
    dst, dst_env = client_connection(database_url(admin_url, scratch))
    dump = subprocess.Popen(
        [f"{pg_bin}/pg_dump", "-Fc", "-d", src],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **src_env},
    )  # fmt: skip
    restore = subprocess.run(
        [f"{pg_bin}/pg_restore", "--no-owner", "--exit-on-error", "-d", dst],
        stdin=dump.stdout, capture_output=True, check=False, env={**os.environ, **dst_env},
    )  # fmt: skip
    assert dump.stdout is not None
    dump.stdout.close()
    dump_err = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
    if dump.wait() != 0 or restore.returncode != 0:
        detail = (dump_err + restore.stderr.decode(errors="replace")).strip()
        raise BackingServiceError(
            f"cannot copy {source}: {detail[-400:]}",
            hint="pg_dump and pg_restore must match the server's major version",
        )


def drop_copy(admin_url: str, scratch: str) -> None:
    """Drop database ``scratch`` (its sessions are ended first)."""
    with psycopg.connect(admin_url, autocommit=True) as conn, catalog_lock(conn):
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
        )


#: every object of the copy's own schemas, with the ALTER that gives it to another owner;
#: sequences owned by a column follow their table, extension members stay
_OWNED = """
SELECT format('ALTER %%s %%I.%%I OWNER TO %%I',
              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                             WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END, n.nspname, c.relname, %(role)s::text)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(role)s::text)
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                  AND d.objid = n.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER ROUTINE %%I.%%I(%%s) OWNER TO %%I', n.nspname, p.proname,
              pg_get_function_identity_arguments(p.oid), %(role)s::text)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER TYPE %%I.%%I OWNER TO %%I', n.nspname, t.typname, %(role)s::text)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'c', 'r') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
"""


def _fence(conn: psycopg.Connection[Any], role: str) -> bool:
    """Make every database but ``role``'s own copy turn ``role`` away; False when the
    connection may not (only a superuser may set ``session_preload_libraries``): the role
    then still has no privilege on those databases, and the tripwire still watches."""
    found = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if found is None or not found[0]:
        return False
    others = conn.execute(
        "SELECT datname FROM pg_database WHERE datallowconn AND datname <> %s", (role,)
    ).fetchall()
    statement = sql.SQL("ALTER ROLE {} IN DATABASE {} SET session_preload_libraries = {}")
    for (database,) in others:
        conn.execute(
            statement.format(
                sql.Identifier(role), sql.Identifier(str(database)), sql.Literal(FENCE)
            )
        )
    return True


def create_role(admin_url: str, scratch: str) -> tuple[str, str, bool]:
    """A login role named ``scratch`` with a random password that owns database
    ``scratch`` and every object in it, holds no other privilege, and is turned away by
    every other database of the server (``FENCE``, where the connection may set it);
    (role, password, fenced)."""
    password = secrets.token_urlsafe(24)
    role = sql.Identifier(scratch)
    with psycopg.connect(admin_url, autocommit=True) as conn, catalog_lock(conn):
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "NOBYPASSRLS PASSWORD {}"
            ).format(role, sql.Literal(password))
        )
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(role, role))
        fenced = _fence(conn, scratch)
    with psycopg.connect(database_url(admin_url, scratch), autocommit=True) as conn:
        statements = [str(r[0]) for r in conn.execute(_OWNED, {"role": scratch}).fetchall()]
        for statement in statements:
            conn.execute(statement.encode())
    return scratch, password, fenced


def drop_role(admin_url: str, role: str) -> None:
    """Drop ``role``. Should release code have created objects elsewhere with it (a server
    whose ``public`` schema lets everyone create), those are dropped with it."""
    statement = sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))
    with psycopg.connect(admin_url, autocommit=True) as conn, catalog_lock(conn):
        try:
            conn.execute(statement)
            return
        except psycopg.errors.DependentObjectsStillExist:
            pass
        databases = conn.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate"
        ).fetchall()
        for (database,) in databases:
            with (
                suppress(psycopg.Error),
                psycopg.connect(database_url(admin_url, str(database)), autocommit=True) as db,
            ):
                db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(statement)


def scratch_folder(release_dir: Path) -> Path:
    """A throw-away copy of ``release_dir`` (symlinks kept as links, but the links to the
    environment's persistent folders replaced by empty folders: ``host/persist.py``)."""
    parent = Path(tempfile.mkdtemp(prefix="stageline-isolated-"))
    target = parent / release_dir.name
    shutil.copytree(release_dir, target, symlinks=True)
    writable(target)  # a copy of a sealed (read-only) release folder is the gate's to write
    persist.detach(target)
    return target


@contextmanager
def isolate(
    env: Environment,
    live: PostgresFacts,
    variables: Mapping[str, str],
    *,
    release_dir: Path,
    source: str | None = None,
    method: CloneMethod = "dump",
    pg_bin: str = "",
    scratch: str | None = None,
    admin_url: str | None = None,
) -> Iterator[Isolated]:
    """A scratch copy of ``source`` (default the live database) with its own role, the
    variables re-resolved against it and a copy of ``release_dir``; all removed on exit.

    ``admin_url`` is a connection with the right to create databases and roles (the
    environment's own server: ``targets.backing.server_admin_url``, stageline's
    administrative role; an external server: its owner); without it ``live`` must have
    that right.
    ``pg_bin`` (pg_dump, pg_restore) defaults to the binaries matching the server.
    """
    name = scratch or scratch_name()
    admin_url = database_url(admin_url or live.url, "postgres")
    if method == "dump" and not pg_bin:
        provider = env.postgres.provider if env.postgres is not None else None
        pg_bin = str(client_binaries(admin_url, provider).bin_dir)
    workdir: Path | None = None
    role = ""
    try:
        how, seconds = make_copy(admin_url, source or live.database, name, method, pg_bin)
        role = name  # dropped on the way out even if making it fails half-way
        _, password, fenced = create_role(admin_url, name)
        copy = PostgresFacts(live.host, live.port, role, password, name)
        workdir = scratch_folder(release_dir)
        resolved = copy_variables(env, variables, copy)
        aimed = aimed_at_live(resolved, live, copy)
        yield Isolated(live, copy, admin_url, resolved, workdir, how, seconds, fenced, aimed)
    finally:
        drop_copy(admin_url, name)
        if role:
            drop_role(admin_url, role)
        if workdir is not None:
            shutil.rmtree(workdir.parent, ignore_errors=True)
