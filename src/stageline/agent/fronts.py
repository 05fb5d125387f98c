"""The agent's side of a front process (``front.py``): start, adopt, order, stop.

A front is started in its own session, like a service, and recorded in ``running.json``
as ``<env>:front`` (pid and /proc start time), so a restarted agent adopts it instead of
starting another one while the old one still holds the port. If it exits while the
agent runs, it is started again (with backoff); at start it routes by ``proxied.json``.

Every front runs this way. A blue/green environment's front is its
``ProxiedEnvironment``'s (``switch.py``), routed by the agent's own ``proxied.json``. A
target that routes its front itself (a swarm environment: the engine runs the release)
asks the agent to run one with the ``front`` order: ``RoutedFronts`` keeps those in
``fronts.json`` (``state.RoutedFront``: the folder whose ``agent/proxied.json`` routes it,
host, port), so the next agent adopts or starts them again, until ``stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stageline.agent.process import ServiceProcess, now_iso
from stageline.agent.spec import ProcessSpec
from stageline.agent.state import (
    AgentPaths,
    RoutedFront,
    RunningEntry,
    load_fronts,
    save_fronts,
)
from stageline.agent.supervisor import Backoff, read_log_tail
from stageline.errors import AgentError

log = logging.getLogger("stageline.agent")
START_TIMEOUT = 10.0
ORDER_TIMEOUT = 10.0
STABLE_AFTER = 10.0  # a front that served this long restarts after the first delay again
FRONT_RELEASE = "front"  # the ``release`` of a front's running.json entry
#: variables a front never gets (it needs no secret): the operator's secrets, the master
#: key, a person's token, and the test-only fault injection
UNNEEDED = ("STAGELINE_SECRET_", "STAGELINE_MASTER_KEY", "STAGELINE_TOKEN", "STAGELINE_AGENT_FAULT")
Answer = dict[str, Any]


def front_key(environment: str) -> str:
    """A front's key in ``running.json``."""
    return f"{environment}:front"


class FrontProcess:
    """One environment's front process, as the agent sees it."""

    def __init__(
        self,
        paths: AgentPaths,
        environment: str,
        host: str,
        port: int,
        *,
        stop_grace: float,
        on_change: Callable[[], None] = lambda: None,
        traffic: Path | None = None,
    ) -> None:
        self.paths, self.environment = paths, environment
        self.traffic = traffic  # the traffic profile's folder, if not envs/<env>/traffic
        self.name = environment
        self.host, self.port = host, port
        self.stop_grace = stop_grace
        self._on_change = on_change  # a new pid: running.json must say so
        self._proc: ServiceProcess | None = None
        self._started_at = ""
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._backoff = Backoff(0.2, 5.0)
        self._watched_since = 0.0

    @property
    def spec(self) -> ProcessSpec:
        argv = [sys.executable, "-m", "stageline.agent.front", "--home", str(self.paths.home)]
        argv += ["--environment", self.environment, "--host", self.host, "--port", str(self.port)]
        if self.traffic is not None:
            argv += ["--traffic", str(self.traffic)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(UNNEEDED)}
        return ProcessSpec(
            environment=self.environment,
            release=FRONT_RELEASE,
            argv=argv,
            cwd=str(self.paths.dir),
            env=env,
            port=self.port,
            health_path="/",
            log_path=str(self.paths.front_log(self.environment)),
        )

    def running_entry(self) -> RunningEntry | None:
        proc = self._proc
        if proc is None or proc.exited():
            return None
        return RunningEntry(proc.pid, proc.proc_start, self._started_at, FRONT_RELEASE)

    # -- lifetime ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the front and return once it answers; AgentError (it is gone) if it
        exits first, e.g. because another program holds the port."""
        try:
            proc, offset = ServiceProcess.spawn(self.spec)
        except OSError as exc:
            raise AgentError(f"could not start {self.environment}'s front: {exc}") from exc
        self._proc, self._started_at = proc, now_iso()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:
            with contextlib.suppress(AgentError):
                await self.order({"op": "ping"}, timeout=1.0)
                break
            if proc.exited() or loop.time() > deadline:
                await proc.terminate(self.stop_grace)
                self._proc = None
                tail = read_log_tail(self.paths.front_log(self.environment), offset, lines=5)
                why = tail.splitlines()[-1] if tail else "it did not answer"
                raise AgentError(
                    f"cannot serve {self.environment} on {self.host}:{self.port}: {why}",
                    hint="another program uses that port; stop it or change target.port",
                    log_tail=tail,
                )
            await asyncio.sleep(0.05)
        log.info("%s: front pid %d on port %d", self.environment, proc.pid, self.port)
        self._watch()
        self._on_change()

    async def adopt(self, entry: RunningEntry) -> bool:
        """Take over the front a previous agent started, if it is that very process and
        answers for this port; False (and nothing changed) otherwise."""
        proc = ServiceProcess.adopt(entry.pid, entry.proc_start)
        if proc is None:
            return False
        self._proc, self._started_at = proc, entry.started_at
        try:
            answer = await self.order({"op": "ping"}, timeout=2.0)
        except AgentError:
            answer = {}
        if answer.get("port") != self.port or answer.get("pid") != proc.pid:
            log.info("%s: stopping front pid %d (not answering for it)", self.environment, proc.pid)
            await proc.terminate(self.stop_grace)
            self._proc = None
            return False
        log.info("%s: adopted front pid %d on port %d", self.environment, proc.pid, self.port)
        self._watch()
        return True

    async def stop(self) -> None:
        """Close the public port: stop the front for good."""
        self._stopping = True
        await self._halt()

    async def _halt(self) -> None:
        """Stop watching the front, then stop the front itself."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self._proc is not None:
            await self._proc.terminate(self.stop_grace)
            self._proc = None

    def detach(self) -> None:
        """Forget the front but leave it serving (the agent is exiting)."""
        self._stopping = True
        if self._watcher is not None:
            self._watcher.cancel()
        if self._proc is not None:
            self._proc.close()

    def _watch(self) -> None:
        self._watched_since = asyncio.get_running_loop().time()
        self._watcher = asyncio.create_task(self._restart_on_exit(), name=f"front {self.port}")

    async def _restart_on_exit(self) -> None:
        """Wait for the front to exit; unless we are stopping, start it again (with
        backoff, until it starts: its port may be taken for a while; one that served
        ``STABLE_AFTER`` seconds starts over from the first delay)."""
        proc = self._proc
        if proc is None:
            return
        code = await proc.wait()
        if asyncio.get_running_loop().time() - self._watched_since >= STABLE_AFTER:
            self._backoff.reset()
        while not self._stopping:
            delay = self._backoff.next()
            log.warning("%s: front exited (%s); restarting in %.1fs", self.name, code, delay)
            await asyncio.sleep(delay)
            try:
                await self.start()
                return  # start() watches the new one
            except AgentError as exc:
                log.error("%s: %s", self.name, exc)

    # -- orders --------------------------------------------------------------------------

    async def reload(self) -> dict[str, Any]:
        """Make the front route as proxied.json says, and return what it routes to. A
        front that does not answer is started again (it reads the file at start)."""
        try:
            return await self.order({"op": "reload"})
        except AgentError as exc:
            log.warning(
                "%s: front did not take the reload (%s); restarting it", self.environment, exc
            )
        await self._halt()
        await self.start()
        return await self.order({"op": "ping"})

    async def drain(self, ports: tuple[int, ...], timeout: float) -> bool:
        """Wait until no request is in flight to the copies on ``ports`` (True), or
        ``timeout`` seconds (False). A front that is gone has nothing in flight."""
        try:
            answer = await self.order(
                {"op": "drain", "ports": list(ports), "timeout": timeout}, timeout=timeout + 5
            )
        except AgentError as exc:
            log.warning("%s: front did not answer the drain: %s", self.environment, exc)
            return True
        return bool(answer.get("drained"))

    async def stats(self) -> dict[str, Any]:
        """The front's ping answer, or an empty dict if it does not answer."""
        try:
            return await self.order({"op": "ping"}, timeout=2.0)
        except AgentError:
            return {}

    async def order(
        self, order: dict[str, Any], *, timeout: float = ORDER_TIMEOUT
    ) -> dict[str, Any]:
        """One order over the front's control socket; AgentError if it does not answer ok."""
        path = self.paths.front_socket(self.environment)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(str(path))
                try:
                    writer.write(json.dumps(order).encode() + b"\n")
                    await writer.drain()
                    line = await reader.readline()
                finally:
                    writer.close()
        except (OSError, TimeoutError) as exc:
            raise AgentError(f"{self.environment}'s front did not answer: {exc!r}") from exc
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else "no valid answer"
            raise AgentError(f"{self.environment}'s front: {error}")
        return answer


class RoutedFronts:
    """The fronts the agent runs for targets that route them themselves (see the module
    docstring). Callers hold the environment's lock."""

    def __init__(
        self, paths: AgentPaths, *, stop_grace: float, on_change: Callable[[], None]
    ) -> None:
        self.paths = paths
        self.stop_grace = stop_grace
        self._on_change = on_change  # running.json must say what runs
        self.wanted: dict[str, RoutedFront] = {}
        self.processes: dict[str, FrontProcess] = {}

    def _process(self, environment: str, front: RoutedFront) -> FrontProcess:
        paths = AgentPaths(front.home)
        return FrontProcess(
            paths, environment, front.host, front.port,
            stop_grace=self.stop_grace, on_change=self._on_change, traffic=front.traffic,
        )  # fmt: skip

    async def resume(self, running: dict[str, RunningEntry]) -> None:
        """At the agent's start: adopt each recorded front that still runs (``running``:
        the last agent's running.json), start the others. One that cannot start is
        logged; the target's next ``front`` order tries again."""
        self.wanted = load_fronts(self.paths)
        for environment, front in self.wanted.items():
            process = self.processes[environment] = self._process(environment, front)
            entry = running.get(front_key(environment))
            try:
                if entry is None or not await process.adopt(entry):
                    await process.start()
            except AgentError as exc:
                del self.processes[environment]
                log.error("%s: %s", environment, exc)

    async def serve(self, environment: str, front: RoutedFront) -> Answer:
        """Run ``front`` for ``environment`` (started unless it runs; one of another
        folder or port is stopped first) and have it route as its proxied.json says;
        returns its answer (``release``, ``ports``). AgentError if it cannot start (it is
        then forgotten)."""
        if self.wanted.get(environment) not in (None, front):
            await self.stop(environment)
        process = self.processes.get(environment)
        if process is None:
            self.wanted[environment] = front
            save_fronts(self.paths, self.wanted)  # first: a new agent must know of it
            process = self.processes[environment] = self._process(environment, front)
            try:
                await process.start()
            except AgentError:
                await self.stop(environment)
                raise
        return await process.reload()

    async def stop(self, environment: str) -> bool:
        """Stop ``environment``'s front for good and forget it; False if it had none."""
        known = self.wanted.pop(environment, None) is not None
        if known:
            save_fronts(self.paths, self.wanted)
        process = self.processes.pop(environment, None)
        if process is not None:
            await process.stop()
            self._on_change()
        return known or process is not None

    async def halt(self) -> None:
        """Stop every front but keep them recorded (the agent's ``shutdown``: the next
        agent starts them again)."""
        processes = list(self.processes.values())
        self.processes.clear()
        await asyncio.gather(*(process.stop() for process in processes))

    def detach(self) -> None:
        """Leave every front serving (the agent is exiting)."""
        for process in self.processes.values():
            process.detach()

    def running_entries(self) -> dict[str, RunningEntry]:
        entries = {front_key(env): p.running_entry() for env, p in self.processes.items()}
        return {key: entry for key, entry in entries.items() if entry is not None}

    async def describe(self) -> dict[str, Answer]:
        """What ``status`` answers: each recorded front's folder, port, pid (None while
        it does not answer) and the release it routes to."""
        described = {}
        for environment, front in self.wanted.items():
            process = self.processes.get(environment)
            stats = await process.stats() if process is not None else {}
            described[environment] = {
                **front.to_dict(), "pid": stats.get("pid"), "release": stats.get("release"),
            }  # fmt: skip
        return described
