"""A small manager for throwaway and per-environment PostgreSQL servers.

Two providers of binaries: ``embedded`` (the ``pgserver`` wheel's PostgreSQL 16, no
contrib extensions) and ``system`` (``initdb`` on PATH or under
``/usr/lib/postgresql/*/bin``, with every contrib extension Debian ships).

A server listens on 127.0.0.1 only and trusts no one: every connection, over TCP or the
unix socket, authenticates with a password (``scram-sha-256``). Its superuser is
``stageline`` (the administrative role; its password is the server object's
``password``); a service gets a role of its own that owns its database and is no
superuser (:meth:`PostgresServer.ensure_owner`). A cluster made by an older stageline,
which trusted loopback, is locked down by :meth:`PostgresServer.require_passwords`. The
server keeps its unix socket and log in a run folder beside the data folder
(``<data>.run``). PostgreSQL refuses to run as root: when we are root, ``initdb`` and
``postgres`` run as the ``postgres`` system user (or a ``stageline`` system user created
for the purpose), the data and run folders are given to that user, and the folders above
them are made traversable (``o+x``).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from stageline.errors import BackingServiceError
from stageline.host.procfs import is_alive

Provider = Literal["embedded", "system"]
SUPERUSER = "stageline"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
_HBA = (
    "# stageline: a password (scram-sha-256) for everyone, loopback only\n"
    "local all all scram-sha-256\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)


def new_password() -> str:
    """A fresh password for a PostgreSQL role (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def trusts_anyone(hba_text: str) -> bool:
    """Whether a ``pg_hba.conf`` lets some connection in without a password."""
    for line in hba_text.splitlines():
        fields = line.split("#", 1)[0].split()
        method_at = 3 if fields[:1] == ["local"] else 4
        if len(fields) > method_at and fields[method_at] in ("trust", "peer", "ident"):
            return True
    return False


@dataclass(frozen=True)
class PgBinaries:
    """Where a PostgreSQL installation's programs are, and its major version."""

    bin_dir: Path
    major: int

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_url(url: str, database: str) -> str:
    """``url`` (a libpq URL to some database of a server) pointing at ``database`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


def client_connection(url: str) -> tuple[str, dict[str, str]]:
    """``url`` split for a client program (psql, pg_dump): the connection string without
    its password, which is safe on a command line that every user of the host can read,
    and the environment variables that carry the password."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **params), ({"PGPASSWORD": str(password)} if password else {})


def client_binaries(server_url: str, preferred: str | None = None) -> PgBinaries:
    """``pg_dump``, ``pg_restore`` and ``psql`` for the server at ``server_url``: its own
    major version (from the ``preferred`` provider first), else the oldest newer one
    found (pg_dump refuses a server newer than itself)."""
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        major = conn.info.server_version // 10000
    providers: list[Provider] = ["embedded", "system"]
    if preferred in providers:
        providers.sort(key=lambda p: p != preferred)
    found: list[PgBinaries] = []
    for provider in providers:
        with contextlib.suppress(BackingServiceError):
            return find_binaries(provider, major)
        with contextlib.suppress(BackingServiceError):
            found.append(find_binaries(provider, None))
    newer = [b for b in found if b.major > major]
    if newer:
        return min(newer, key=lambda b: b.major)
    have = ", ".join(f"{b.major} ({b.bin_dir})" for b in found) or "none"
    raise BackingServiceError(
        f"no pg_dump for PostgreSQL {major} here (have: {have})",
        hint=f"install PostgreSQL {major}'s client programs (e.g. postgresql-client-{major})",
    )


def find_binaries(provider: Provider, version: int | None = None) -> PgBinaries:
    """Locate PostgreSQL's programs for ``provider``; ``version`` pins the major version."""
    if provider == "embedded":
        bin_dir = _embedded_bin_dir()
        other = "use provider 'system' (install postgresql, e.g. `apt-get install postgresql`)"
    elif provider == "system":
        bin_dir = _system_bin_dir(version)
        other = "use provider 'embedded' (`pip install pgserver`, PostgreSQL 16)"
    else:
        raise BackingServiceError(f"unknown PostgreSQL provider {provider!r}")
    if bin_dir is None:
        raise BackingServiceError(f"no {provider} PostgreSQL binaries found", hint=other)
    binaries = PgBinaries(bin_dir=bin_dir, major=_major_version(bin_dir))
    if version is not None and binaries.major != version:
        raise BackingServiceError(
            f"{provider} PostgreSQL is version {binaries.major}, not {version} ({bin_dir})",
            hint=f"install PostgreSQL {version} (e.g. `apt-get install postgresql-{version}`)"
            f" or {other}",
        )
    return binaries


def _embedded_bin_dir() -> Path | None:
    # The module's file, found without importing it (its import has side effects).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    bin_dir = Path(spec.origin).parent / "pginstall" / "bin"
    return bin_dir if (bin_dir / "initdb").exists() else None


def _system_bin_dir(version: int | None) -> Path | None:
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda p: int(Path(p).parent.parent.name), reverse=True)
    candidates += [Path(p).parent for p in found if Path(p).parent.parent.name.isdigit()]
    if version is not None:
        for bin_dir in candidates:
            if _major_version(bin_dir) == version:
                return bin_dir
    return candidates[0] if candidates else None


def _major_version(bin_dir: Path) -> int:
    try:
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackingServiceError(f"cannot run {bin_dir / 'postgres'}: {exc}") from exc
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not match:
        raise BackingServiceError(f"cannot read the PostgreSQL version from {out.strip()!r}")
    return int(match.group(1))


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str
    home: str


def _server_user() -> _RunAs | None:
    """The unprivileged user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "stageline"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)
    # useradd may race with another process doing the same; the lookup below decides.
    subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "stageline",
        ],
        capture_output=True,
        check=False,
    )
    try:
        entry = pwd.getpwnam("stageline")
    except KeyError:
        raise BackingServiceError(
            "running as root, and no 'postgres' user exists nor could 'stageline' be created",
            hint="create an unprivileged user named 'postgres' or 'stageline'",
        ) from None
    return _RunAs(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)


def server_user() -> tuple[int, int] | None:
    """(uid, gid) of the unprivileged user a backing server started by root runs as
    (PostgreSQL's, and each environment's Redis); None when we are not root."""
    user = _server_user()
    return (user.uid, user.gid) if user else None


def make_traversable(path: Path) -> None:
    """Let every user pass through ``path`` and the folders above it (``o+x``)."""
    _make_traversable(path)


def _make_traversable(path: Path) -> None:
    """Let every user pass through ``path`` and the folders above it (``o+x``)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class PostgresServer:
    """One PostgreSQL cluster: a data folder, a port on 127.0.0.1, and its programs."""

    def __init__(
        self, data_dir: Path, port: int, binaries: PgBinaries, password: str | None = None
    ) -> None:
        """``password`` is the superuser's: the one :meth:`init` sets, and the one every
        connection of this object uses. None makes a fresh one, good for a throwaway server
        that this object creates and drops; a kept cluster must be given its own."""
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.binaries = binaries
        self.password = password or new_password()
        self.run_dir = self.data_dir.with_name(self.data_dir.name + ".run")
        self.log_file = self.run_dir / "postgres.log"
        self._user = _server_user()

    def __repr__(self) -> str:
        return f"PostgresServer({str(self.data_dir)!r}, port={self.port})"  # never the password

    # -- lifecycle ---------------------------------------------------------------

    def init(self, *, durable: bool = True) -> None:
        """Create the cluster (once; later calls do nothing).

        ``durable=False`` turns off fsync and friends: for test servers only.
        """
        if (self.data_dir / "PG_VERSION").exists():
            return
        for folder in (self.data_dir, self.run_dir):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            if self._user:
                os.chown(folder, self._user.uid, self._user.gid)
        if self._user:
            _make_traversable(self.data_dir.parent)
        pwfile = self.run_dir / "initdb.pw"
        self._write_private(pwfile, self.password + "\n")
        cmd = [
            self.binaries.program("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
        if not durable:
            cmd.append("--no-sync")
        try:
            result = self._run(cmd, timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise BackingServiceError(
                f"initdb failed for {self.data_dir}:\n{_tail(result.stdout)}",
                hint="the data folder must be empty or absent",
            )
        socket_dir = str(self.run_dir)
        if len(os.path.join(socket_dir, ".s.PGSQL.65535")) > _SOCKET_PATH_MAX:
            socket_dir = ""  # too long for a unix socket: TCP on 127.0.0.1 only
        settings = [
            "listen_addresses = '127.0.0.1'",
            "password_encryption = 'scram-sha-256'",
            f"unix_socket_directories = {_conf_quote(socket_dir)}",
        ]
        if not durable:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# stageline\n" + "\n".join(settings) + "\n")
        (self.data_dir / "pg_hba.conf").write_text(_HBA)

    def require_passwords(self) -> bool:
        """Lock down a cluster an older stageline made trusting loopback (idempotent).

        Sets the superuser's password to :attr:`password` while the server still trusts
        (the server must be running), then replaces ``pg_hba.conf`` with password
        authentication for everyone and reloads it. True when something changed.
        """
        hba = self.data_dir / "pg_hba.conf"
        if not trusts_anyone(hba.read_text()):
            return False
        with self._connect() as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.password)
                )
            )
            hba.write_text(_HBA)
            conn.execute("SELECT pg_reload_conf()")
        return True

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections."""
        if not (self.data_dir / "PG_VERSION").exists():
            raise BackingServiceError(
                f"no PostgreSQL cluster in {self.data_dir}", hint="call init() first"
            )
        if self.is_running():
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._user:
            os.chown(self.run_dir, self._user.uid, self._user.gid)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        cmd = [
            self.binaries.program("pg_ctl"),
            "start",
            "-D",
            str(self.data_dir),
            "-w",
            "-t",
            str(max(1, int(timeout))),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
        ]
        result = self._run(cmd, timeout=timeout + 30)
        if result.returncode != 0 or not self.is_running():
            log = ""
            with contextlib.suppress(OSError), open(self.log_file, errors="replace") as fh:
                fh.seek(offset)
                log = fh.read()
            raise BackingServiceError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} ({self.data_dir}):\n"
                f"{_tail(log or result.stdout)}",
                hint=f"is port {self.port} in use? the full log is {self.log_file}",
            )

    def stop(self, timeout: float = 60) -> None:
        """Stop the server (fast shutdown) and wait until its process is gone."""
        pid = self.pid
        if pid is None:
            return
        cmd = [
            self.binaries.program("pg_ctl"),
            "stop",
            "-D",
            str(self.data_dir),
            "-m",
            "fast",
            "-w",
            "-t",
            str(max(1, int(timeout))),
        ]
        result = self._run(cmd, timeout=timeout + 30)
        deadline = time.monotonic() + timeout
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_alive(pid):
            raise BackingServiceError(
                f"PostgreSQL (pid {pid}) did not stop:\n{_tail(result.stdout)}"
            )

    def is_running(self) -> bool:
        return self.pid is not None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs, else None."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first.strip())
        except (OSError, ValueError):
            return None
        return pid if is_alive(pid) else None

    # -- databases ---------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        """The superuser's URL to ``database``, password included: never print it."""
        auth = f"{SUPERUSER}:{quote(self.password, safe='')}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, extensions: tuple[str, ...] | list[str] = ()) -> None:
        """Create ``name`` unless it exists, and the given extensions in it."""
        with self._connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                # someone else may create it meanwhile: fine
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if not extensions:
            return
        with self._connect(name) as conn:
            for ext in extensions:
                try:
                    conn.execute(
                        sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(ext))
                    )
                except psycopg.Error as exc:
                    raise BackingServiceError(
                        f"cannot create extension {ext!r} in {name!r}: {exc}".strip(),
                        hint="the embedded provider ships no contrib extensions; "
                        "use provider 'system' (Debian's postgresql has them all)",
                    ) from exc

    def ensure_owner(self, database: str, role: str, password: str) -> None:
        """Make ``role`` a login role with ``password``, no superuser, unable to create
        databases or roles, and the owner of ``database`` and of every object in it (so a
        database an older stageline filled as the superuser keeps working for its service).
        """
        if role == SUPERUSER:
            raise BackingServiceError(f"the service role cannot be {SUPERUSER!r}")
        with self._connect() as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if found else "CREATE"
            conn.execute(
                sql.SQL(
                    verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                    "NOBYPASSRLS PASSWORD {}"
                ).format(sql.Identifier(role), sql.Literal(password))
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
        with self._connect(database) as conn:
            for statement in conn.execute(_HAND_OVER, {"role": role}).fetchall():
                conn.execute(statement[0])

    def drop_database(self, name: str) -> None:
        """Drop ``name`` if it exists, disconnecting anyone still connected."""
        with self._connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- helpers -----------------------------------------------------------------

    def _connect(self, database: str = "postgres") -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url(database), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise BackingServiceError(
                f"cannot connect to PostgreSQL at 127.0.0.1:{self.port}: {exc}".strip(),
                hint="is the server started?",
            ) from exc

    def _write_private(self, path: Path, text: str) -> None:
        """A file only the server's user may read (initdb's password file)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        if self._user:
            os.chown(path, self._user.uid, self._user.gid)

    def _run(self, cmd: list[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program, as the server user when we are root."""
        env = {**os.environ, "LC_ALL": "C"}
        kwargs: dict[str, Any] = {}
        if self._user:
            env.update(HOME=self._user.home, USER=self._user.name, LOGNAME=self._user.name)
            kwargs = {"user": self._user.uid, "group": self._user.gid, "extra_groups": []}
        try:
            return subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                cwd=self.data_dir.parent,
                timeout=timeout,
                check=False,
                **kwargs,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise BackingServiceError(f"cannot run {cmd[0]}: {exc}") from exc


# Statements that give every object of the current database owned by the superuser
# (schemas, tables, views, sequences not owned by a column, functions, types) to
# %(role)s; extensions' own objects stay where they are.
_HAND_OVER = """
SELECT format('ALTER SCHEMA %%I OWNER TO %%I', n.nspname, %(role)s::text)
  FROM pg_namespace n
 WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                   AND d.objid = n.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER TABLE %%I.%%I OWNER TO %%I', n.nspname, c.relname, %(role)s::text)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT format('ALTER ROUTINE %%s OWNER TO %%I', p.oid::regprocedure, %(role)s::text)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER TYPE %%s OWNER TO %%I', t.oid::regtype, %(role)s::text)
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND t.typtype IN ('e', 'd', 'c') AND (t.typtype <> 'c' OR
       (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
   AND n.nspname NOT LIKE 'pg\\_%%' AND n.nspname <> 'information_schema'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                   AND d.objid = t.oid AND d.deptype = 'e')
"""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
