"""The ``Target`` interface: where one environment runs.

A target is made for one environment (``Session.target``, resolved through the
``stageline.targets`` entry-point group: ``targets/registry.py``). The deploy use case
drives it through these steps, in this order, and owns every decision; a target only
acts and reports:

1. ``prepare(release)``: materialize the artifact on the host (bundle unpacked, a
   virtualenv installed offline from its wheelhouse) in the environment's own folder.
   Idempotent: preparing a release that is already there reuses it.
2. ``backing()``: make sure the environment's backing services run, and say how to reach
   them (``PostgresFacts``), or None when it declares none. ``backing(start=False)``
   only says how they are reached, starting nothing (the port is 0 before a server's
   first start). ``admin_url(database)`` is stageline's own administrative URL of the
   environment's server (holds a password: never print it); ``stop_backing()`` stops
   the servers the target runs for the environment (PostgreSQL and Redis).
   ``redis()`` / ``redis(start=False)`` do for the environment's Redis what ``backing``
   does for PostgreSQL (``RedisFacts``, None when it declares none).
3. ``run(prepared, command, variables)``: run a command (the release command) in the
   release's context, with the service's variables. Never raises for a non-zero exit:
   the caller judges the :class:`CommandResult`.
4. ``start(prepared, variables, deployment=)``: run the release as the environment's
   service and return once its health check passes. On failure it raises
   :class:`~stageline.errors.DeployFailed` (with the log tail) and whatever ran before
   is running again. ``deployment`` (a :class:`DeploymentId`) says where the
   deployment is recorded. With the ``blue-green`` strategy the new release starts beside
   the old one and takes over atomically; a watch window follows, in which a crash
   switches the previous release back in and records ``deployment`` (the state-store
   record) as ``rolled_back``; ``wait_watch(timeout)`` waits for that window to end.
   ``switch_back(reason)`` puts the release that ran before ``start`` back (blue/green:
   while the window is open; restart: it starts again) and returns a :class:`SwitchBack`
   saying whether it serves again; with blue/green the agent records ``rolled_back``.
5. ``stop()``, ``status()``, ``log_path(process)``: stop it, report it (every process,
   workers included), find a process type's log (``web`` by default);
   ``prune(keep)`` removes old release folders beyond the retention count.
6. ``url()``: the base URL at which stageline reaches the service from this host (gates
   and health checks use it, never a port of their own); ``health(path, timeout=)``
   says ``down`` (nothing runs), ``healthy`` (``path`` answers 200) or ``unhealthy``;
   its request is a request like any other, so an environment that scaled to zero
   (``status().state == "idle"``: no process runs, the front holds the port) wakes for
   it. ``stageline status`` and the dashboard therefore report ``idle`` without asking.
   ``run_probe(prepared, argv)`` runs a read-only command in the release's context.
   ``flush_traffic()`` asks the front serving the environment (whichever process holds
   its public port) to write the traffic profile it holds now, so a profile read next
   (``envs/<env>/traffic/``, the ``load`` gate's) includes the last seconds; False when
   no front answered (nothing serves, or the environment has no front).
7. ``run_interactive(prepared, argv, variables)``: a person's one-off command
   (``stageline run``) in the release's context with the service's variables, attached
   to the caller's terminal; returns its exit code.

Nothing outside a target talks to a port, a process or a release folder of an
environment. ``FakeTarget`` in ``targets/fake.py`` follows the same contract in memory,
for use-case tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from stageline.artifacts import Manifest
from stageline.config.resolve import PostgresFacts, RedisFacts


@dataclass(frozen=True)
class Release:
    """One artifact, to be run in one environment."""

    environment: str
    digest: str
    manifest: Manifest
    artifact_path: Path

    @property
    def version(self) -> str:
        return self.manifest.service.version


@dataclass(frozen=True)
class Prepared:
    """A release materialized on the host, ready to run."""

    release: Release
    root: Path
    workdir: Path
    bin_dir: Path


@dataclass(frozen=True)
class CommandResult:
    command: str
    returncode: int
    output_tail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class DeploymentId:
    """Where the deployment a start belongs to is recorded: the state store's URL, the
    record's id, and the digest it deploys (a target that watches after a switch records
    the outcome there)."""

    store: str
    id: int
    digest: str


#: what :meth:`Target.health` says about an environment
Health = Literal["healthy", "unhealthy", "down"]

#: ``idle``: scaled to zero (no process runs; the next request starts the release again)
ServiceState = Literal["starting", "running", "backoff", "crashed", "stopped", "idle"]


@dataclass(frozen=True)
class ProcessInfo:
    """One process of a blue/green environment's serving release: a copy of ``web``, or
    one of its other process types (``worker``...: port 0, healthy while it runs)."""

    pid: int | None
    port: int  # internal: the proxy forwards to it
    state: ServiceState
    healthy: bool
    restarts: int
    process_type: str = "web"


@dataclass(frozen=True)
class ServiceStatus:
    environment: str
    digest: str  # for blue/green: the release the proxy serves
    state: ServiceState
    healthy: bool
    pid: int | None
    port: int
    restarts: int
    started_at: str | None
    strategy: Literal["blue-green", "restart"] = "restart"
    processes: tuple[ProcessInfo, ...] = ()
    watching_for: float = 0.0  # seconds left in the watch window after a switch


@dataclass(frozen=True)
class WatchOutcome:
    """How the watch window after a switch ended (``status``: succeeded / rolled_back)."""

    settled: bool
    status: str
    reason: str
    serving: str


@dataclass(frozen=True)
class SwitchBack:
    """How putting the previous release back went: ``done`` if it serves again; else
    ``why`` not (no earlier release, the watch window closed, it did not start)."""

    done: bool
    why: str = ""


class Target(Protocol):
    """Where one environment runs. See the module docstring for the contract."""

    def prepare(self, release: Release) -> Prepared: ...

    def backing(self, *, start: bool = True) -> PostgresFacts | None: ...

    def redis(self, *, start: bool = True) -> RedisFacts | None: ...

    def admin_url(self, database: str = "postgres") -> str: ...

    def stop_backing(self) -> bool: ...

    def url(self) -> str: ...

    def health(self, path: str, *, timeout: float) -> Health: ...

    def run(
        self, prepared: Prepared, command: str, variables: Mapping[str, str], *, timeout: float
    ) -> CommandResult: ...

    def start(
        self,
        prepared: Prepared,
        variables: Mapping[str, str],
        *,
        deployment: DeploymentId | None = None,
    ) -> ServiceStatus: ...

    def wait_watch(self, timeout: float) -> WatchOutcome | None: ...

    def switch_back(self, reason: str) -> SwitchBack: ...

    def stop(self) -> None: ...

    def prune(self, keep: Iterable[str]) -> list[str]: ...

    def status(self) -> ServiceStatus | None: ...

    def log_path(self, process: str = "web") -> Path: ...

    def flush_traffic(self) -> bool: ...

    def run_probe(
        self, prepared: Prepared, argv: Sequence[str], *, timeout: float
    ) -> CommandResult:
        """Run ``argv`` (``argv[0]`` found in the release's ``bin`` first) in the release's
        context without the service's variables; ``output_tail`` is the whole stdout.
        Used by ``parity`` to ask the running environment for its facts."""
        ...

    def run_interactive(
        self, prepared: Prepared, argv: Sequence[str], variables: Mapping[str, str]
    ) -> int:
        """Run ``argv`` as the service would run (``argv[0]`` found in the release's
        ``bin`` first, its working folder, ``variables``: secrets included) with this
        process's stdin, stdout and stderr, so a terminal stays a terminal; return its
        exit code (128 + N when signal N killed it). Output is neither captured nor masked:
        the person who ran it sees what it prints. A Ctrl-C reaches the command, which
        decides; the caller waits for it to end. An ``argv[0]`` that cannot be run raises
        :class:`~stageline.errors.UsageError`."""
        ...
