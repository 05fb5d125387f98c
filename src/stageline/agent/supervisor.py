"""One environment's service process: start it, watch it, restart it with backoff, stop it.

A ``Supervisor`` owns at most one process at a time. Two tasks run beside it: a watcher
that notices the exit and, when restarts are enabled, waits out a backoff and starts
the spec again; and a monitor that health-checks the process every few seconds. A proxy
for blue/green switches can sit next to supervisors and read ``status()``.

A process type other than ``web`` (a worker: no port) has no HTTP check: it counts as
healthy once it has run ``worker_settle`` seconds, and as long as it keeps running, so a
worker that exits at start fails ``wait_healthy`` like a web process that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from stageline.agent.process import ServiceProcess, now_iso
from stageline.agent.spec import ProcessSpec, ServiceState, ServiceStatus
from stageline.agent.state import LOG_BACKUPS, LOG_MAX_BYTES, RunningEntry
from stageline.errors import AgentError

log = logging.getLogger("stageline.agent")
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class SupervisionPolicy:
    """Timings of supervision; the defaults suit production."""

    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_reset_after: float = 10.0  # healthy this long -> the next crash backs off from scratch
    health_interval: float = 2.0
    health_request_timeout: float = 2.0
    stop_grace: float = 10.0
    #: a worker (no port, no health check) that ran this long without exiting has started;
    #: it counts from the launcher's start, which checks the release folder first
    worker_settle: float = 3.0


class Backoff:
    """Exponential restart delays: ``initial``, doubling up to ``cap``; ``reset`` starts over."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial, self.cap = initial, cap
        self._next = initial

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.initial


def read_log_tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log, ignoring what was there before ``offset`` (all
    of it if the log was rotated since: it is then shorter than ``offset``)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(offset if offset <= size else 0, size - 64 * 1024))
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


def rotate_service_log(
    path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS
) -> bool:
    """Rotate a service's output log once it is larger than ``max_bytes``: copy it to
    ``.1`` (older copies move up to ``.{backups}``, the oldest is dropped) and truncate it
    in place. The service keeps its file open in append mode, so it writes on at the new
    end (what it writes between the copy and the truncation is lost: logrotate's
    ``copytruncate``). True if it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
        for n in range(backups - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        shutil.copyfile(path, path.with_name(f"{path.name}.1"))
        os.truncate(path, 0)
    except OSError as exc:
        log.warning("could not rotate %s: %s", path, exc)
        return False
    return True


class Supervisor:
    """Keeps one ``ProcessSpec`` running. Call ``launch`` or ``adopt`` once, ``stop`` at the end."""

    def __init__(
        self,
        spec: ProcessSpec,
        http: httpx.AsyncClient,
        *,
        policy: SupervisionPolicy | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.spec = spec
        self.policy = policy or SupervisionPolicy()
        self._http = http
        self._on_change = on_change
        self._proc: ServiceProcess | None = None
        self._log_offset = 0
        self._state: ServiceState = "stopped"
        self._healthy = False
        self._healthy_since: float | None = None
        #: health checks failed in a row by the monitor, and the last one's answer
        self.failed_checks = 0
        self.last_check: int | str = ""
        self._restarts = 0
        self._started_at: str | None = None
        self._last_exit: int | None = None
        self._backoff = Backoff(self.policy.backoff_initial, self.policy.backoff_max)
        self._auto_restart = False
        self._stopping = False
        self._spawn_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._new_process = asyncio.Event()
        self._spawned_at: float | None = None  # loop time of our last spawn (None: adopted)

    # -- reading -------------------------------------------------------------------------

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}{self.spec.health_path}"

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            environment=self.spec.environment,
            release=self.spec.release,
            pid=self._proc.pid if self._proc else None,
            port=self.spec.port,
            state=self._state,
            healthy=self._healthy,
            restarts=self._restarts,
            started_at=self._started_at,
            last_exit=self._last_exit,
            process_type=self.spec.process_type,
        )

    def running_entry(self) -> RunningEntry | None:
        if self._proc is None or self._started_at is None:
            return None
        return RunningEntry(
            self._proc.pid, self._proc.proc_start, self._started_at, self.spec.release
        )

    def log_tail(self) -> str:
        return read_log_tail(Path(self.spec.log_path), self._log_offset)

    # -- acting --------------------------------------------------------------------------

    async def launch(self, *, auto_restart: bool) -> None:
        """Start the process. With ``auto_restart`` off, an exit is reported, not repaired
        (``start`` turns it on once the new release has proved healthy)."""
        self._auto_restart = auto_restart
        try:
            async with self._spawn_lock:
                self._spawn()
        except OSError as exc:
            self._set_state("crashed")
            if not auto_restart:
                raise AgentError(
                    f"could not start {self.spec.argv[0]!r}: {exc}", log_tail=self.log_tail()
                ) from exc
            log.warning("%s: could not start: %s", self.spec.environment, exc)
        self._start_tasks()

    def adopt(self, proc: ServiceProcess, started_at: str) -> None:
        """Watch a process a previous agent started; restart it from the spec if it exits."""
        self._proc, self._started_at, self._auto_restart = proc, started_at, True
        self._log_offset = Path(self.spec.log_path).stat().st_size if self._has_log() else 0
        self._set_state("starting")
        self._start_tasks()

    def enable_restart(self) -> None:
        self._auto_restart = True

    async def wait_healthy(self, timeout: float) -> None:
        """Return once the health check answers 200; raise AgentError (with the log tail)
        if the process exits first or ``timeout`` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last = "no answer yet"
        while True:
            proc = self._proc
            if proc is None or proc.exited():
                code = proc.exit_code if proc else self._last_exit
                reason = f"with code {code}" if code is not None else "(exit code unknown)"
                what = "service" if self.spec.serves_http else f"{self.spec.process_type} process"
                started = "healthy" if self.spec.serves_http else "started"
                raise AgentError(
                    f"{what} exited {reason} before it was {started}", log_tail=self.log_tail()
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AgentError(
                    f"health check did not pass within {timeout:g}s: last answer {last}",
                    log_tail=self.log_tail(),
                )
            allowed = min(remaining, self.policy.health_request_timeout)
            answer = await self._check(allowed)
            if answer == 200:
                self._mark_health(True)
                return
            if answer != "timed out" or allowed == self.policy.health_request_timeout:
                last = str(answer)  # a timeout we cut short ourselves says nothing
            await asyncio.sleep(min(0.1, max(deadline - loop.time(), 0)))

    async def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after the grace period) for good."""
        self._stopping = True
        async with self._spawn_lock:  # no spawn is half done, and none starts after this
            proc = self._proc
            for task in self._tasks:
                task.cancel()
        if proc is not None:
            code = await proc.terminate(self.policy.stop_grace)
            self._last_exit = code if code is not None else self._last_exit
        # the tasks end even if a cancellation were lost: the process is gone, we are stopping
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._proc = None
        self._mark_health(False)
        self._set_state("stopped")

    def detach(self) -> None:
        """Forget the process but leave it running (the agent is exiting on SIGTERM)."""
        for task in self._tasks:
            task.cancel()
        if self._proc is not None:
            self._proc.close()

    # -- internals -----------------------------------------------------------------------

    def _has_log(self) -> bool:
        return Path(self.spec.log_path).is_file()

    def _spawn(self) -> None:
        self._proc, self._log_offset = ServiceProcess.spawn(self.spec)
        self._spawned_at = asyncio.get_running_loop().time()
        self._started_at = now_iso()
        self._new_process.set()
        self._mark_health(False)
        self._set_state("starting")
        log.info("%s: started pid %d", self.spec.environment, self._proc.pid)

    def _start_tasks(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch(), name=f"watch {self.spec.environment}"),
            asyncio.create_task(self._monitor(), name=f"health {self.spec.environment}"),
        ]

    async def _watch(self) -> None:
        while True:
            if self._proc is not None:
                code = await self._proc.wait()
                self._record_exit(code)
            if self._stopping or not self._auto_restart:
                return
            delay = self._backoff.next()
            self._set_state("backoff")
            log.info("%s: restarting in %.1fs", self.spec.environment, delay)
            await asyncio.sleep(delay)
            async with self._spawn_lock:
                if self._stopping:
                    return
                self._restarts += 1
                try:
                    self._spawn()
                except OSError as exc:
                    log.warning("%s: could not restart: %s", self.spec.environment, exc)

    def _record_exit(self, code: int | None) -> None:
        loop = asyncio.get_running_loop()
        if (
            self._healthy_since is not None
            and loop.time() - self._healthy_since >= self.policy.backoff_reset_after
        ):
            self._backoff.reset()
        log.info(
            "%s: pid %s exited with %s", self.spec.environment, self._proc and self._proc.pid, code
        )
        self._proc, self._last_exit = None, code
        self._mark_health(False)
        self._set_state("crashed")

    async def _monitor(self) -> None:
        while not self._stopping:
            if rotate_service_log(Path(self.spec.log_path)):
                self._log_offset = 0
            proc = self._proc
            if proc is not None and not proc.exited():
                answer = await self._check(self.policy.health_request_timeout)
                if proc is self._proc:
                    healthy = answer == 200
                    if not healthy and self._state == "running":  # not while it starts
                        self.failed_checks += 1
                    self.last_check = answer
                    self._mark_health(healthy)
            # until it was healthy once, look often; a new process (restart) wakes us at once
            interval = self.policy.health_interval if self._state == "running" else 0.2
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._new_process.wait()
            self._new_process.clear()

    async def _check(self, timeout: float) -> int | str:
        """The health check's status code, or a short description of why there was none
        (a worker: 200 once it has run ``worker_settle`` seconds)."""
        if not self.spec.serves_http:
            return self._worker_check()
        try:
            response = await self._http.get(self.health_url, timeout=timeout)
        except httpx.ConnectError:
            return "connection refused"
        except httpx.TimeoutException:
            return "timed out"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return response.status_code

    def _worker_check(self) -> int | str:
        proc = self._proc
        if proc is None or proc.exited():
            return "not running"
        spawned = self._spawned_at
        settled = spawned is None or (
            asyncio.get_running_loop().time() - spawned >= self.policy.worker_settle
        )
        return 200 if settled else "starting"

    def _mark_health(self, healthy: bool) -> None:
        if healthy:
            self.failed_checks = 0
        if healthy and not self._healthy:
            self._healthy_since = asyncio.get_running_loop().time()
        elif not healthy:
            self._healthy_since = None
        self._healthy = healthy
        if healthy and self._state == "starting":
            self._set_state("running")

    def _set_state(self, state: ServiceState) -> None:
        if state != self._state:
            self._state = state
            self._on_change()
