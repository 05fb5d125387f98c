"""The gate interface: what a gate gets (``GateContext``), what it gives (``GateResult``).

A gate kind is an object with an ``Options`` pydantic model (``extra="forbid"``) and a
``run(ctx, options) -> GateResult`` method (``Gate[OptionsT]``). ``run`` must finish by
``ctx.deadline``; every subprocess it starts goes through ``ctx.run_process`` so that the
runner can kill it if the gate overstays (and so that nothing outlives the gate).

A gate is given what it may know, never fetches it: the context carries the pipeline as
loaded once for the whole run (``ctx.pipeline``), a read-only view of the state store
(``ctx.store``: :class:`StoreView`) and the environments' targets with their backing
facts (``ctx.targets``: :class:`TargetView`). The caller builds these once from its
session (``stageline.usecases.gating``); no gate opens the pipeline file or the store itself.
A gate that starts releases of its own (the ``load`` gate's A/B) is given
``ctx.releases`` (:class:`ReleaseView`): which digest an environment serves, that digest
prepared on this host as a :class:`Runnable`, and the traffic an environment's proxy
recorded; it starts them with ``ctx.spawn``, so the runner stops them with the gate.

Statuses: ``passed``; ``failed`` (the release did not meet the gate); ``error`` (the gate
could not judge: it timed out, crashed, or was misconfigured).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from stageline.config.model import Environment, Pipeline
from stageline.config.resolve import PostgresFacts
from stageline.parity.facts import Facts
from stageline.values import GateStatus as GateStatus  # re-exported

if TYPE_CHECKING:
    from stageline.traffic.profile import TrafficProfile

#: variables of the host passed on to gate subprocesses (besides the service's own)
BASIC_VARIABLES = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
    "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip


class GateOptions(BaseModel):
    """Base of every kind's options: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessOutcome(NamedTuple):
    """How a subprocess ended: its exit code (None if it was killed at the deadline)."""

    returncode: int | None
    output: str


class ProcessRegistry:
    """The process groups a gate started; ``kill_all`` SIGKILLs the live ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[int] = set()
        self.started: list[int] = []
        self.killed: set[int] = set()
        self.closed = False

    def add(self, pid: int) -> bool:
        """Remember a new group leader; False (and the group killed) once closed."""
        with self._lock:
            if self.closed:
                _killpg(pid)
                self.killed.add(pid)
                return False
            self._live.add(pid)
            self.started.append(pid)
            return True

    def live(self) -> set[int]:
        """The process groups (their leaders' pids) still running."""
        with self._lock:
            return set(self._live)

    def done(self, pid: int) -> None:
        with self._lock:
            self._live.discard(pid)

    def kill(self, pid: int) -> None:
        with self._lock:
            self.killed.add(pid)
            _killpg(pid)

    def kill_all(self) -> list[int]:
        """Kill every live group and refuse new ones; returns the pids killed."""
        with self._lock:
            self.closed = True
            pids = sorted(self._live)
            for pid in pids:
                self.killed.add(pid)
                _killpg(pid)
            return pids


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class StoreView(Protocol):
    """The state store as a gate may read it (never write): exactly the reads gates make."""

    def newest_snapshot(self, environment: str) -> str | None:
        """The template database of the newest snapshot kept on ``environment``'s server
        (None when there is none, or the snapshots feature is not installed)."""
        ...

    def secrets(self, environment: str) -> Mapping[str, str]:
        """The values of ``environment``'s declared secrets that are set."""
        ...


class TargetView(Protocol):
    """The pipeline's environments as their targets run them, with their backing facts."""

    def postgres(self, environment: str) -> PostgresFacts | None:
        """How ``environment``'s service reaches its database (None: it declares none)."""
        ...

    def admin_url(self, environment: str, database: str = "postgres") -> str:
        """stageline's administrative URL on ``environment``'s PostgreSQL server."""
        ...

    def probe(self, environment: str) -> Facts:
        """The facts of ``environment`` as it runs now (``NotDeployed`` if nothing runs)."""
        ...

    def serving_ports(self, environment: str) -> tuple[int, ...]:
        """The ports of this host on which ``environment``'s serving processes listen
        themselves: each copy's or task's own port behind a front (blue/green, swarm), the
        public port when the service holds it (restart); () when nothing runs."""
        ...


@dataclass(frozen=True)
class Runnable:
    """A release prepared on this host (its sealed release folder), as a gate starts it:
    ``start`` is the service's start command (``{port}`` in it), run from ``workdir``
    (or a scratch copy of it) with ``bin_dir`` first on PATH."""

    digest: str
    version: str
    workdir: Path
    bin_dir: Path
    start: str
    health_path: str

    def argv(self, port: int) -> list[str]:
        """The start command for ``port``, its program looked up in ``bin_dir`` first."""
        import shlex

        start = self.start.replace("{port}", str(port)).replace("{host}", "127.0.0.1")
        argv = shlex.split(start)
        if (self.bin_dir / argv[0]).is_file():
            argv[0] = str(self.bin_dir / argv[0])
        return argv

    def environ(self) -> dict[str, str]:
        """The process basics a release runs with (PATH, its virtualenv, no bytecode)."""
        env = {key: os.environ[key] for key in BASIC_VARIABLES if key in os.environ}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        env["VIRTUAL_ENV"] = str(self.bin_dir.parent)
        env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
        return env


class ReleaseView(Protocol):
    """What a gate that starts releases of its own may use (reads, and preparing a
    release folder on this host, as a deploy would)."""

    def serving(self, environment: str) -> str | None:
        """The digest ``environment`` serves now (its latest succeeded deployment)."""
        ...

    def runnable(self, environment: str, digest: str) -> Runnable:
        """``digest`` prepared on ``environment``'s host (verified, sealed)."""
        ...

    def traffic(self, environment: str) -> TrafficProfile | None:
        """The traffic ``environment``'s proxy recorded (None: nothing recorded)."""
        ...


@dataclass(frozen=True)
class GateContext:
    """Everything a gate may know about the release it checks and where it runs."""

    name: str
    environment: Environment
    url: str
    health_path: str
    variables: Mapping[str, str]
    digest: str
    version: str
    bundle: Path
    python: str
    evidence_dir: Path
    #: the service's folder (holding the pipeline file) and its ``.stageline`` home
    root: Path
    home: Path
    deployed_at: datetime | None
    deadline: float
    log: Callable[[str], None]
    #: the pipeline as loaded once for this run, the store (read-only), the targets
    pipeline: Pipeline
    store: StoreView
    targets: TargetView
    #: the stored artifact's folder (verified before the deploy): layers the release
    #: does not install, such as the pytest gate's test layer (``artifacts/testlayer.py``)
    artifact: Path | None = None
    #: releases and recorded traffic, for gates that start releases (``load``)
    releases: ReleaseView | None = None
    processes: ProcessRegistry = field(default_factory=ProcessRegistry, repr=False)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def service_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for a gate subprocess: host basics, the service's variables,
        ``STAGELINE_URL``, then ``extra``."""
        env = {key: os.environ[key] for key in BASIC_VARIABLES if key in os.environ}
        env.update(self.variables)
        env["STAGELINE_URL"] = self.url
        env.update(extra or {})
        return env

    def run_process(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ProcessOutcome:
        """Run ``argv`` in its own process group, output (stdout + stderr) captured.

        At the deadline the whole group gets SIGKILL and ``returncode`` is None; after a
        normal exit, anything the process left running in its group is killed too.
        Raises ``OSError`` if the program cannot be started.
        """
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not self.processes.add(proc.pid):
            proc.communicate()
            return ProcessOutcome(None, "")
        try:
            try:
                raw, _ = proc.communicate(timeout=self.remaining())
            except subprocess.TimeoutExpired:
                self.processes.kill(proc.pid)
                raw, _ = proc.communicate()
            _killpg(proc.pid)  # leftovers in the group
        finally:
            self.processes.done(proc.pid)
        output = raw.decode("utf-8", errors="replace")
        if proc.pid in self.processes.killed:
            return ProcessOutcome(None, output)
        return ProcessOutcome(proc.returncode, output)

    def spawn(
        self, argv: Sequence[str], *, cwd: Path | str, env: Mapping[str, str], log: Path
    ) -> subprocess.Popen[bytes] | None:
        """Start ``argv`` in the background, in its own process group, output to ``log``;
        the runner kills the group at the deadline, and ``stop`` ends it. None (nothing
        started) once the gate was stopped. Raises ``OSError`` if it cannot be started."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if not self.processes.add(proc.pid):
            proc.wait()
            return None
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """End a process ``spawn`` started, with its group: SIGTERM, then SIGKILL."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.processes.kill(proc.pid)
            proc.wait()
        _killpg(proc.pid)
        self.processes.done(proc.pid)


@dataclass(frozen=True)
class GateResult:
    """A gate's verdict, with a one-line summary and JSON-serializable evidence."""

    status: GateStatus
    summary: str
    duration: float
    evidence: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None


OptionsT = TypeVar("OptionsT", bound=BaseModel, contravariant=True)


class Gate(Protocol[OptionsT]):
    """A gate kind. ``run`` judges the release described by ``ctx``; it should not raise
    (an exception is recorded as an ``error`` result by the runner). ``options`` is an
    instance of ``Options`` (validated when the pipeline was loaded)."""

    @property
    def Options(self) -> type[BaseModel]:
        """The pydantic model of this kind's options (``extra="forbid"``)."""
        ...

    def run(self, ctx: GateContext, options: OptionsT) -> GateResult: ...


#: a gate of any kind, as the registry hands them out
AnyGate = Gate[Any]


def timed_out(seconds: float, evidence: dict[str, Any] | None = None) -> GateResult:
    """The result of a gate stopped at its deadline."""
    return GateResult("error", f"timed out after {seconds:.0f}s (stopped)", seconds, evidence or {})


def one_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, shortened to ``limit`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def tail(text: str, lines: int = 200) -> str:
    return "\n".join(text.splitlines()[-lines:])
