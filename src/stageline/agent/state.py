"""The agent's files under ``<home>/agent/``, and how they are read and written.

::

    agent.lock     flock held by the running agent for its whole life
    agent.pid      the running agent's pid
    agent.sock     the unix socket it takes orders on
    agent.log      its own log (when started by ``AgentClient.ensure_running``), rotated
    front-<env>.log  a blue/green environment's front process's log, rotated
    f-<hash>.sock  the unix socket a front process takes the agent's orders on (in
                   /tmp/stageline-<uid>-sockets/ when this path is too long for one)
    desired.json   environment -> ProcessSpec: what should run (the source of truth)
    running.json   environment (or ``environment:port`` for a proxied one's copies)
                   -> pid, /proc start time, started_at: what does run
    proxied.json   environment -> EnvState of a blue/green environment (``release.py``):
                   which release serves, which one is pending, the watch window
    fronts.json    environment -> the front the agent keeps running for a target that
                   routes it itself (a swarm environment; ``fronts.RoutedFront``)
    fault-fired-*  test-only markers of the fault-injection hook (``switch.py``)

Both JSON files are replaced atomically (temp file + ``os.replace``) on every change, so
a crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
from dataclasses import asdict, dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from stageline.agent.release import EnvState
from stageline.agent.spec import ProcessSpec, SpecError
from stageline.errors import AgentError

SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, including the final NUL
LOG_MAX_BYTES = 10 * 1024 * 1024  # the agent's and the fronts' logs rotate at this size
LOG_BACKUPS = 3  # rotated logs kept (``.1`` .. ``.3``)


@dataclass(frozen=True)
class AgentPaths:
    """Where one home's agent keeps its files."""

    home: Path

    @property
    def dir(self) -> Path:
        return self.home / "agent"

    @property
    def socket(self) -> Path:
        return self.dir / "agent.sock"

    @property
    def lock(self) -> Path:
        return self.dir / "agent.lock"

    @property
    def pid(self) -> Path:
        return self.dir / "agent.pid"

    @property
    def log(self) -> Path:
        return self.dir / "agent.log"

    @property
    def desired(self) -> Path:
        return self.dir / "desired.json"

    @property
    def running(self) -> Path:
        return self.dir / "running.json"

    @property
    def proxied(self) -> Path:
        return self.dir / "proxied.json"

    @property
    def fronts(self) -> Path:
        return self.dir / "fronts.json"

    def front_socket(self, environment: str) -> Path:
        """The control socket of ``environment``'s front process: ``f-<hash>.sock`` in the
        agent's folder; when that path is too long for a unix socket (a deep project
        folder, a swarm environment's front under ``envs/<env>/swarm/``), a socket named
        by a hash of that path in this user's private :func:`short_socket_folder`."""
        digest = hashlib.sha256(environment.encode()).hexdigest()[:8]
        path = self.dir / f"f-{digest}.sock"
        if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
            return path
        key = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
        return short_socket_folder() / f"f-{key}.sock"

    def front_log(self, environment: str) -> Path:
        return self.dir / f"front-{environment.replace('/', '--')}.log"  # review/<slug>

    def check_socket_path(self) -> None:
        """Unix socket paths are short on Linux; say so instead of failing obscurely (the
        fronts' sockets move to :func:`short_socket_folder` instead)."""
        if len(os.fsencode(self.socket)) > SOCKET_PATH_MAX:
            raise AgentError(
                f"agent socket path is too long for a unix socket: {self.socket}",
                hint=f"use a .stageline folder whose path is under {SOCKET_PATH_MAX - 17} bytes",
            )


def short_socket_folder() -> Path:
    """``/tmp/stageline-<uid>-sockets``: made mode 0700 if missing; AgentError unless it is
    a folder (not a link) of this user's that nobody else may enter."""
    folder = Path("/tmp") / f"stageline-{os.getuid()}-sockets"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or found.st_mode & 0o077:
        raise AgentError(
            f"{folder} is not a private folder of this user (it holds control sockets)",
            hint=f"remove {folder}; stageline makes it again, mode 0700",
        )
    return folder


@dataclass(frozen=True)
class RunningEntry:
    """One live service process as last recorded: enough to re-adopt it safely."""

    pid: int
    proc_start: int  # field 22 of /proc/<pid>/stat: guards against pid reuse
    started_at: str
    release: str


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AgentError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise AgentError(f"cannot read {path}: expected a JSON object")
    return data


def load_desired(paths: AgentPaths) -> dict[str, ProcessSpec]:
    try:
        return {
            env: ProcessSpec.from_dict(spec)
            for env, spec in _read_json_object(paths.desired).items()
        }
    except SpecError as exc:
        raise AgentError(f"cannot read {paths.desired}: {exc}") from exc


def save_desired(paths: AgentPaths, desired: dict[str, ProcessSpec]) -> None:
    write_json_atomic(paths.desired, {env: spec.to_dict() for env, spec in desired.items()})


def load_running(paths: AgentPaths) -> dict[str, RunningEntry]:
    """Entries that do not parse are dropped: this file only speeds up re-adoption."""
    entries: dict[str, RunningEntry] = {}
    for env, raw in _read_json_object(paths.running).items():
        try:
            entries[env] = RunningEntry(**raw)
        except TypeError:
            continue
    return entries


def save_running(paths: AgentPaths, running: dict[str, RunningEntry]) -> None:
    write_json_atomic(paths.running, {env: asdict(entry) for env, entry in running.items()})


def load_proxied(paths: AgentPaths) -> dict[str, EnvState]:
    try:
        return {
            env: EnvState.from_dict(raw) for env, raw in _read_json_object(paths.proxied).items()
        }
    except (SpecError, KeyError, TypeError, ValueError) as exc:
        raise AgentError(f"cannot read {paths.proxied}: {exc}") from exc


def save_proxied(paths: AgentPaths, states: dict[str, EnvState]) -> None:
    write_json_atomic(paths.proxied, {env: state.to_dict() for env, state in states.items()})


@dataclass(frozen=True)
class RoutedFront:
    """A front the agent runs for a target that routes it itself (a swarm environment):
    the front process reads ``home/agent/proxied.json`` (the target writes it) and takes
    orders on ``home``'s front socket; the agent only keeps it running."""

    home: Path  # absolute
    host: str
    port: int
    traffic: Path | None = None  # the traffic profile's folder (absolute), if not home's

    def to_dict(self) -> dict[str, Any]:
        found = {"home": str(self.home), "host": self.host, "port": self.port}
        return found | ({"traffic": str(self.traffic)} if self.traffic else {})

    @classmethod
    def from_dict(cls, raw: object) -> RoutedFront:
        """SpecError unless ``raw`` has an absolute ``home``, a ``host`` and a ``port``."""
        if not isinstance(raw, dict):
            raise SpecError("a front must be a JSON object")
        home, host, port = raw.get("home"), raw.get("host"), raw.get("port")
        if not isinstance(home, str) or not Path(home).is_absolute():
            raise SpecError(f"field 'home' must be an absolute path, not {home!r}")
        if not isinstance(host, str) or not host:
            raise SpecError(f"field 'host' must be a host, not {host!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise SpecError(f"field 'port' must be a port, not {port!r}")
        traffic = raw.get("traffic")
        if traffic is not None and (
            not isinstance(traffic, str) or not Path(traffic).is_absolute()
        ):
            raise SpecError(f"field 'traffic' must be an absolute path, not {traffic!r}")
        return cls(Path(home), host, port, Path(traffic) if traffic else None)


def load_fronts(paths: AgentPaths) -> dict[str, RoutedFront]:
    try:
        return {
            env: RoutedFront.from_dict(raw) for env, raw in _read_json_object(paths.fronts).items()
        }
    except SpecError as exc:
        raise AgentError(f"cannot read {paths.fronts}: {exc}") from exc


def save_fronts(paths: AgentPaths, fronts: dict[str, RoutedFront]) -> None:
    write_json_atomic(paths.fronts, {env: front.to_dict() for env, front in fronts.items()})


def log_to(path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
    """Send this process's logging to ``path``, rotated at ``max_bytes`` with
    ``LOG_BACKUPS`` old files kept (the agent's and the fronts' logs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=LOG_BACKUPS)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per health check
