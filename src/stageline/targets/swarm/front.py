"""The environment's public port: stageline's own front process (``agent/front.py``),
routing to the serving release's tasks (each at its node's address and its slot's
port), run and supervised by the host agent.

The same front the ``local`` target's blue/green uses, routed by the swarm target
itself: its files live under ``envs/<env>/swarm/`` (an ``AgentPaths`` of its own:
``agent/proxied.json`` says which release serves, at which addresses (each task's node
address and slot port), ``agent/f-*.sock`` takes its orders, ``agent/front-<env>.log``
is its log). A switch rewrites ``proxied.json`` and has the front reload it (one
reference swap in the proxy: requests in flight finish where they started), then orders
``drain`` of the old ports.

The host agent of the ``.stageline`` folder runs the front (the ``front`` order,
``agent/fronts.RoutedFronts``), as it runs the local target's: recorded in its
``fronts.json`` and ``running.json``, started again (with backoff) if it exits, adopted
by a restarted agent, stopped for good only when the environment is stopped. A command
that routes brings a dead agent back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.agent.client import AgentClient, NoAgent
from stageline.agent.fronts import FrontProcess, front_key
from stageline.agent.release import Address, EnvState, Group, ReleaseSpec
from stageline.agent.spec import ProcessSpec
from stageline.agent.state import (
    AgentPaths,
    RoutedFront,
    load_fronts,
    load_proxied,
    load_running,
    save_proxied,
)
from stageline.errors import AgentError, DeployFailed
from stageline.host.procfs import is_alive


@dataclass(frozen=True)
class SwarmFront:
    """The front of one swarm environment (see the module docstring)."""

    folder: Path  # envs/<env>/swarm
    environment: str
    host: str
    port: int
    home: Path  # the .stageline folder whose agent runs the front
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

    def _routed(self) -> RoutedFront:
        return RoutedFront(self.folder.resolve(), self.host, self.port, self.traffic)

    def _agent(self) -> AgentClient:
        return AgentClient(self.home)

    def pid(self) -> int | None:
        """The front's pid if it runs, as the agent records it for this folder and port
        (read from its files: no agent is started), else None."""
        agent = AgentPaths(self.home.resolve())
        try:
            routed = load_fronts(agent).get(self.environment)
            entry = load_running(agent).get(front_key(self.environment))
        except AgentError:
            return None
        if routed != self._routed() or entry is None:
            return None
        return entry.pid if is_alive(entry.pid, entry.proc_start) else None

    def supervised(self) -> bool:
        """Whether the front runs and an agent watches it (answers on its socket)."""
        return self.pid() is not None and self._agent().is_running()

    def route(self, release: str, addresses: Sequence[Address]) -> None:
        """Serve ``addresses`` (each task's node address and port, of the release
        ``release``) on the public port from now on: the agent starts the front if it
        does not run, and has it reload."""
        self.paths.dir.mkdir(parents=True, exist_ok=True)
        template = ProcessSpec(self.environment, release, ["swarm"], "/", {}, self.port, "/", "")
        spec = ReleaseSpec(
            template, processes=len(addresses), host=self.host, record_traffic=self.record_traffic
        )
        serving = Group.at(spec, addresses)
        save_proxied(self.paths, {self.environment: EnvState(serving=serving)})
        agent = self._agent()
        try:
            agent.ensure_running()
            agent.front(self.environment, self._routed())
        except AgentError as exc:
            raise DeployFailed(self.environment, str(exc), hint=f"see {self._log()}") from None

    def routed(self) -> tuple[Address, ...]:
        """The addresses ``proxied.json`` routes to (empty when none)."""
        state = load_proxied(self.paths).get(self.environment)
        return state.serving.addresses if state is not None and state.serving else ()

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

    def stop(self) -> None:
        """Close the public port for good: the agent stops the front and forgets it (and
        exits if nothing else is left to run)."""
        try:
            self._agent().stop(self.environment, shutdown_when_idle=True)
        except NoAgent:  # none runs, and none is needed: no front is recorded
            return
