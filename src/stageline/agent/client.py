"""What the CLI and the library call: orders to the agent of one ``.stageline`` folder."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stageline.agent.release import DeploymentRef, ReleaseSpec
from stageline.agent.spec import ProcessSpec, ServiceStatus
from stageline.agent.state import (
    AgentPaths,
    RoutedFront,
    load_desired,
    load_fronts,
    load_proxied,
)
from stageline.agent.supervisor import read_log_tail
from stageline.errors import AgentError
from stageline.host.procfs import is_alive

POLL_INTERVAL = 0.05
STOP_ALLOWANCE = 60.0  # on top of health_timeout: stopping the old process, starting the new


class NoAgent(AgentError):
    """Nothing answers on the agent's socket (it never ran, or it died)."""


class AgentClient:
    """Talks to the agent whose socket is ``home/agent/agent.sock``."""

    def __init__(self, home: Path) -> None:
        self.home = home.resolve()
        self.paths = AgentPaths(self.home)

    def desired(self) -> dict[str, ProcessSpec]:
        """What should run, as kept on disk (readable whether or not the agent runs)."""
        return load_desired(self.paths)

    def needed(self) -> bool:
        """True if this home has something for an agent to run (a service, a blue/green
        environment or a routed front on disk); a state file that cannot be read counts
        as something."""
        try:
            found = load_desired(self.paths), load_proxied(self.paths), load_fronts(self.paths)
            return any(found)
        except AgentError:
            return True

    # -- the agent itself ------------------------------------------------------------------

    def is_running(self) -> bool:
        """True if an agent answers on the socket (never starts one)."""
        try:
            self._send({"op": "ping"}, timeout=5)
        except AgentError:
            return False
        return True

    def agent_pid(self) -> int | None:
        """The running agent's pid, or None if none answers (never starts one)."""
        try:
            pid = self._send({"op": "ping"}, timeout=5)["pid"]
        except AgentError:
            return None
        return pid if isinstance(pid, int) else None

    def available(self) -> bool:
        """True if an agent answers, started now if it is ``needed``; False if none runs
        and none is needed (nothing was ever deployed here, or everything was stopped)."""
        if self.is_running():
            return True
        if not self.needed():
            return False
        self.ensure_running()
        return True

    def ensure_running(self, timeout: float = 10) -> None:
        """Start the agent, detached from us, unless one already answers."""
        if self.is_running():
            return
        self.paths.check_socket_path()
        self.paths.dir.mkdir(parents=True, exist_ok=True)
        with self.paths.log.open("ab") as log:
            offset = log.tell()
            home, rotated_log = str(self.home), str(self.paths.log)
            agent = subprocess.Popen(
                [sys.executable, "-m", "stageline.agent", "--home", home, "--log", rotated_log],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if agent.poll() is not None and not self.is_running():
                raise AgentError(
                    f"the agent for {self.home} exited with code {agent.returncode} at start",
                    log_tail=read_log_tail(self.paths.log, offset),
                )
            if time.monotonic() > deadline:
                raise AgentError(
                    f"the agent for {self.home} did not answer within {timeout:g}s",
                    log_tail=read_log_tail(self.paths.log, offset),
                )
            time.sleep(POLL_INTERVAL)

    def shutdown(self, timeout: float = 60) -> None:
        """Stop every service, then the agent; returns once the agent process is gone."""
        pid = self.agent_pid()
        if pid is None:
            return
        self._request({"op": "shutdown"}, timeout=timeout)
        deadline = time.monotonic() + timeout
        while is_alive(pid):
            if time.monotonic() > deadline:
                raise AgentError(f"the agent (pid {pid}) did not exit within {timeout:g}s")
            time.sleep(POLL_INTERVAL)

    # -- services --------------------------------------------------------------------------

    def start(self, spec: ProcessSpec, *, health_timeout: float = 30) -> ServiceStatus:
        """Replace whatever runs for ``spec.environment`` with ``spec``; return once healthy.

        On failure the new process is stopped, the environment's desired state reverts
        to what it was (nothing runs for it until the caller starts the previous spec
        again), and AgentError carries the reason and ``log_tail``.
        """
        response = self._request(
            {"op": "start", "spec": spec.to_dict(), "health_timeout": health_timeout},
            timeout=health_timeout + STOP_ALLOWANCE,
        )
        return ServiceStatus.from_dict(response["status"])

    def switch(
        self, release: ReleaseSpec, *, deployment: DeploymentRef | None = None
    ) -> dict[str, Any]:
        """Blue/green: start ``release`` beside what serves its environment, switch the
        proxy to it once every copy is healthy, and return (drain and the watch window go
        on in the agent). On failure nothing was switched; AgentError has the log tail."""
        response = self._request(
            {
                "op": "switch",
                "release": release.to_dict(),
                "deployment": deployment.to_dict() if deployment else None,
            },
            timeout=release.health_timeout + STOP_ALLOWANCE,
        )
        described: dict[str, Any] = response["environment"]
        return described

    def outcome(self, environment: str, *, timeout: float = 600) -> dict[str, Any]:
        """Wait (up to ``timeout``) for ``environment``'s watch window to end; returns the
        environment as ``proxied()`` describes it, with ``settled`` and ``outcome``."""
        response = self._request(
            {"op": "outcome", "environment": environment, "timeout": timeout},
            timeout=timeout + 10,
        )
        described: dict[str, Any] = {**response["environment"], "settled": response["settled"]}
        return described

    def revert(self, environment: str, reason: str, *, timeout: float) -> dict[str, Any]:
        """Blue/green, during the watch window: switch the previous release back in (as a
        crash does) and record the deployment ``rolled_back`` with ``reason``; returns the
        environment as ``proxied()`` describes it. AgentError (nothing changed) once the
        window has closed or when there is no earlier release."""
        response = self._request(
            {"op": "revert", "environment": environment, "reason": reason},
            timeout=timeout + STOP_ALLOWANCE,
        )
        described: dict[str, Any] = response["environment"]
        return described

    def front(self, environment: str, front: RoutedFront) -> dict[str, Any]:
        """Have the agent run ``front`` for ``environment`` (a target that routes it
        itself: a swarm environment) and route it as ``front.home``'s proxied.json says
        now; returns the ``release`` and ``ports`` it routes to. The agent keeps it
        running (restarted if it exits, adopted by the next agent) until ``stop``.
        AgentError if it cannot start (another program holds the port)."""
        request = {"op": "front", "environment": environment, **front.to_dict()}
        return self._request(request, timeout=STOP_ALLOWANCE)

    def proxied(self) -> dict[str, dict[str, Any]]:
        """Blue/green environments: public port, serving release, its processes, watch."""
        found: dict[str, dict[str, Any]] = self._request({"op": "status"}, timeout=10).get(
            "proxied", {}
        )
        return found

    def fronts(self) -> dict[str, dict[str, Any]]:
        """The fronts the agent runs for targets that route them (``front``): folder,
        host, port, pid (None while it does not answer), the release it routes to."""
        found: dict[str, dict[str, Any]] = self._request({"op": "status"}, timeout=10).get(
            "fronts", {}
        )
        return found

    def stop(self, environment: str, *, shutdown_when_idle: bool = True) -> None:
        """Stop ``environment``'s process group (or front) and forget it; with nothing else
        left to run (and ``shutdown_when_idle``), the agent exits too."""
        self._request({"op": "stop", "environment": environment}, timeout=STOP_ALLOWANCE)
        if not shutdown_when_idle:
            return
        left = self._request({"op": "status"}, timeout=10)
        if not left["services"] and not left.get("fronts"):
            self.shutdown()

    def status(self) -> dict[str, ServiceStatus]:
        """Every desired environment's status (``stopped`` if nothing runs for it)."""
        services = self._request({"op": "status"}, timeout=10)["services"]
        return {env: ServiceStatus.from_dict(raw) for env, raw in services.items()}

    # -- the wire --------------------------------------------------------------------------

    def _request(self, request: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send one order and read its answer, starting the agent first if none answers and
        one is ``needed`` (the only way orders go: every command that needs the agent
        brings it back). AgentError if there is still no agent, or it says no. An order
        is never sent twice: only a failed *connect* starts the agent and retries."""
        try:
            return self._send(request, timeout=timeout)
        except NoAgent:
            if not self.needed():
                raise
        self.ensure_running()
        return self._send(request, timeout=timeout)

    def _send(self, request: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send one order to the agent that runs; NoAgent if none does."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.paths.socket))
                sock.sendall(json.dumps(request).encode() + b"\n")
                with sock.makefile("rb") as answer:
                    line = answer.readline()
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoAgent(
                f"no agent is running for {self.home}",
                hint="`stageline agent` starts one (deploys start it by themselves)",
            ) from exc
        except TimeoutError as exc:
            raise AgentError(
                f"the agent did not answer {request['op']!r} within {timeout:g}s"
            ) from exc
        except OSError as exc:
            raise AgentError(f"cannot talk to the agent at {self.paths.socket}: {exc}") from exc
        try:
            response = json.loads(line)
        except ValueError:
            response = None
        if not isinstance(response, dict):
            raise AgentError(f"the agent gave no valid answer to {request['op']!r}")
        if not response.get("ok"):
            raise AgentError(
                str(response.get("error", "unknown error")),
                log_tail=str(response.get("log_tail", "")),
            )
        return response
