"""The environment's public port: stageline's own front process (``agent/front.py``),
routing to the serving release's task ports.

The same front the ``local`` target's blue/green uses, run for a swarm environment by
the target itself: its files live under ``envs/<env>/swarm/`` (an ``AgentPaths`` of its
own: ``agent/proxied.json`` says which release and ports serve, ``agent/f-*.sock`` takes
its orders). A switch rewrites ``proxied.json`` and orders ``reload`` (one reference
swap in the proxy: requests in flight finish where they started), then ``drain`` of the
old ports. The front is started in its own session and outlives the command; a later
command adopts it by pid and start time (``front.json``), or starts it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stageline.agent.fronts import FrontProcess
from stageline.agent.process import ServiceProcess
from stageline.agent.release import EnvState, Group, ReleaseSpec
from stageline.agent.spec import ProcessSpec
from stageline.agent.state import AgentPaths, save_proxied
from stageline.errors import AgentError, DeployFailed
from stageline.host.procfs import is_alive, proc_start_time

START_TIMEOUT = 10.0
_PRIVATE = ("STAGELINE_SECRET_", "STAGELINE_MASTER_KEY", "STAGELINE_TOKEN")


@dataclass(frozen=True)
class SwarmFront:
    """The front of one swarm environment (see the module docstring)."""

    folder: Path  # envs/<env>/swarm
    environment: str
    host: str
    port: int
    #: where the front writes the environment's traffic profile (``envs/<env>/traffic``,
    #: as ``local``'s front does), and whether it records it (``record_traffic``)
    traffic: Path | None = None
    record_traffic: bool = False

    @property
    def paths(self) -> AgentPaths:
        return AgentPaths(self.folder)

    def _process(self) -> FrontProcess:
        return FrontProcess(
            self.paths, self.environment, self.host, self.port, stop_grace=5.0,
            traffic=self.traffic,
        )  # fmt: skip

    def _spec(self) -> ProcessSpec:
        """The front's process: the agent's own front, without any secret of the caller's
        environment (it outlives the command that starts it)."""
        spec = self._process().spec
        env = {k: v for k, v in spec.env.items() if not k.startswith(_PRIVATE)}
        return replace(spec, env=env)

    def _record(self) -> Path:
        return self.folder / "front.json"

    def pid(self) -> int | None:
        """The front's pid if it runs (the very process recorded), else None."""
        try:
            found = json.loads(self._record().read_text())
        except (OSError, ValueError):
            return None
        pid, start = found.get("pid"), found.get("proc_start")
        return pid if isinstance(pid, int) and is_alive(pid, start) else None

    def route(self, release: str, ports: tuple[int, ...]) -> None:
        """Serve ``ports`` (the release ``release``) on the public port from now on: the
        front started if it does not run, then reloaded."""
        self.paths.dir.mkdir(parents=True, exist_ok=True)
        template = ProcessSpec(self.environment, release, ["swarm"], "/", {}, self.port, "/", "")
        spec = ReleaseSpec(
            template, processes=len(ports), host=self.host, record_traffic=self.record_traffic
        )
        save_proxied(self.paths, {self.environment: EnvState(serving=Group(spec, ports))})
        if self.pid() is None:
            self._start()
        self.order({"op": "reload"})

    def drain(self, ports: tuple[int, ...], timeout: float) -> bool:
        """Wait until no request is in flight to ``ports`` (switched away from)."""
        answer = self.order({"op": "drain", "ports": list(ports), "timeout": timeout})
        return bool(answer.get("drained"))

    def order(self, order: dict[str, Any]) -> dict[str, Any]:
        try:
            return asyncio.run(self._process().order(order))
        except AgentError as exc:
            raise DeployFailed(self.environment, str(exc), hint=f"see {self._log()}") from None

    def _log(self) -> Path:
        return self.paths.front_log(self.environment)

    def _start(self) -> None:
        proc, _ = ServiceProcess.spawn(self._spec())
        self._record().write_text(json.dumps({"pid": proc.pid, "proc_start": proc.proc_start}))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                asyncio.run(self._process().order({"op": "ping"}, timeout=1.0))
                return
            except AgentError:
                if proc.exited() or time.monotonic() > deadline:
                    self.stop()
                    raise DeployFailed(
                        self.environment,
                        f"cannot serve {self.environment} on {self.host}:{self.port}",
                        hint=f"another program may hold the port; see {self._log()}",
                    ) from None
                time.sleep(0.05)

    def stop(self) -> bool:
        """Stop the front (SIGTERM to its group, then SIGKILL); False if none ran."""
        pid = self.pid()
        self._record().unlink(missing_ok=True)
        if pid is None:
            return False
        start = proc_start_time(pid)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return True
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and is_alive(pid, start):
                time.sleep(0.05)
            if not is_alive(pid, start):
                return True
        return True
