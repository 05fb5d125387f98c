"""Redis servers of environments (Debian's ``redis-server``), and a tiny client for them.

One server per environment (``targets/backing.py`` chooses its folder and port): it
listens on 127.0.0.1 only, on its own port, requires a password (``requirepass``,
written into a 0600 config file, never on a command line where ``ps`` shows it), and
keeps its data (RDB snapshots) in its own folder; started by root, it runs as the same
unprivileged user as the PostgreSQL servers (``postgres.server_user``), which owns its
folder. It runs as a daemon of its own, so it
outlives the command that started it, like the environment's PostgreSQL server; it is
stopped with ``SHUTDOWN`` over its port.

:class:`Connection` speaks just enough of the RESP2 protocol (commands as arrays of bulk
strings; simple strings, errors, integers, bulk strings and arrays back) for stageline's
own needs: ``AUTH``, ``PING``, ``INFO`` and ``SHUTDOWN``. No third-party client needed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from stageline.errors import BackingServiceError
from stageline.services.postgres import make_traversable, server_user

START_TIMEOUT = 15.0
Reply = str | int | bytes | list["Reply"] | None


class ReplyError(Exception):
    """The server answered with an error (``-ERR ...``, ``-WRONGPASS ...``)."""


class Connection:
    """One connection to a Redis server; ``call`` sends a command and reads its reply."""

    def __init__(self, host: str, port: int, *, timeout: float = 5.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def call(self, *args: str | bytes) -> Reply:
        """Send one command; its reply (ReplyError if the server refuses it)."""
        parts = [a.encode() if isinstance(a, str) else a for a in args]
        out = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        self._sock.sendall(out)
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the Redis server closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("the Redis server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
        return data

    def _reply(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size)
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionError(f"not a Redis reply: {line[:40]!r}")


def info_field(info: bytes | str, name: str) -> str:
    """One ``name:value`` field of an ``INFO`` reply ("" if absent)."""
    text = info.decode() if isinstance(info, bytes) else info
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key == name:
            return value.strip()
    return ""


def find_server() -> str:
    """The ``redis-server`` program on PATH; BackingServiceError naming the package if none."""
    found = shutil.which("redis-server")
    if found is None:
        raise BackingServiceError(
            "no redis-server program on PATH (needed by services.redis provider 'system')",
            hint="install Debian's redis-server package (`apt-get install redis-server`) and "
            "keep its own system service disabled, or use provider = 'external' with a url",
        )
    return found


class RedisServer:
    """One environment's server: its folder (config, data, pid, log), port and password."""

    def __init__(self, folder: Path, port: int, password: str) -> None:
        self.folder, self.port, self._password = folder, port, password
        self._user = server_user()

    @property
    def config(self) -> Path:
        return self.folder / "redis.conf"

    @property
    def log(self) -> Path:
        return self.folder / "redis.log"

    def connect(self) -> Connection:
        """An authenticated connection (OSError/ReplyError if it cannot be had)."""
        conn = Connection("127.0.0.1", self.port)
        try:
            conn.call("AUTH", self._password)
        except (OSError, ReplyError):
            conn.__exit__()
            raise
        return conn

    def is_running(self) -> bool:
        try:
            with self.connect() as conn:
                return conn.call("PING") == "PONG"
        except (OSError, ReplyError):
            return False

    def version(self) -> str:
        """The server's own ``redis_version`` (BackingServiceError if it does not answer)."""
        try:
            with self.connect() as conn:
                info = conn.call("INFO", "server")
        except (OSError, ReplyError) as exc:
            raise BackingServiceError(
                f"cannot ask the Redis server on port {self.port} for its version: {exc}",
                hint="is the environment running? `stageline status`",
            ) from None
        return info_field(info if isinstance(info, bytes | str) else b"", "redis_version")

    def write_config(self) -> None:
        """The server's config (mode 0600: it holds the password)."""
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        text = "\n".join(
            [
                "bind 127.0.0.1",
                "protected-mode yes",
                f"port {self.port}",
                f"requirepass {self._password}",
                "daemonize yes",
                f"pidfile {self.folder / 'redis.pid'}",
                f"logfile {self.log}",
                f"dir {data}",
                "save 60 1",
                "",
            ]
        )
        self.config.touch(mode=0o600)
        self.config.chmod(0o600)
        self.config.write_text(text, encoding="utf-8")
        if self._user is not None:  # root: the server's own user owns its folder
            make_traversable(self.folder.parent)
            for path in (self.folder, data, self.config, *data.iterdir()):
                os.chown(path, *self._user)
            for name in ("redis.log", "redis.pid"):
                if (self.folder / name).exists():
                    os.chown(self.folder / name, *self._user)

    def start(self, program: str) -> None:
        """Start the daemon and wait until it answers; BackingServiceError (with its log's
        tail) if it does not within ``START_TIMEOUT`` seconds."""
        self.write_config()
        uid, gid = self._user or (None, None)
        done = subprocess.run(
            [program, str(self.config)], capture_output=True, text=True, user=uid, group=gid
        )
        deadline = time.monotonic() + START_TIMEOUT
        while done.returncode == 0 and time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.05)
        tail = self.log.read_text(errors="replace")[-600:] if self.log.is_file() else ""
        raise BackingServiceError(
            f"the Redis server on port {self.port} did not start: "
            f"{(done.stderr or done.stdout).strip()[-300:] or tail.strip()[-300:]}",
            hint=f"see {self.log}",
        )

    def stop(self) -> None:
        """``SHUTDOWN`` (it saves its data first), then wait until the port is closed."""
        try:
            with self.connect() as conn:
                conn.call("SHUTDOWN")
        except (OSError, ReplyError, ConnectionError):
            pass  # SHUTDOWN answers by closing the connection
        deadline = time.monotonic() + START_TIMEOUT
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
