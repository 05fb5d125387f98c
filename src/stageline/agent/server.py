"""The agent process: one per ``.stageline`` folder, taking orders over a unix socket.

Protocol: one JSON object per line each way. Requests are ``{"op": ...}`` with

    ping                                     -> {"ok": true, "pid": N}
    start   spec: ProcessSpec, health_timeout -> {"ok": true, "status": ServiceStatus}
    switch  release: ReleaseSpec, deployment  -> {"ok": true, "environment": {...}}
    outcome environment, timeout              -> {"ok": true, "settled": bool, "environment": ...}
    revert  environment, reason               -> {"ok": true, "environment": {...}}
    wake    environment                       -> {"ok": true, "environment": {...}}
    front   environment, home, host, port     -> {"ok": true, "release", "ports"}
    stop    environment                       -> {"ok": true, "stopped": bool}
    status                                    -> {"ok": true, "services": {env: ServiceStatus},
                                                  "proxied": {env: {...}}, "fronts": {...}}
    shutdown                                  -> {"ok": true}, after every service stopped

``start`` is the plain restart (the environment's one process listens on its public
port); ``switch`` is blue/green behind the environment's proxy (``switch.py``), and
returns as soon as the new release serves, while drain and the watch window go on;
``outcome`` waits for the watch window to end; ``revert`` switches the previous release
back while the window is open (as a crash in it does) and records ``rolled_back`` with
``reason``; ``wake`` starts a blue/green environment that scaled to zero (``idle.py``)
again and returns once it serves (its front sends it). An environment is either one or
the other: an order of the other kind replaces it. ``front`` runs the front of a target
that routes it itself (a swarm environment, ``fronts.RoutedFronts``): started or kept,
restarted if it exits, reloaded to route as ``home``'s proxied.json says; refused for
an environment the agent runs itself.

and any failure is ``{"ok": false, "error": "one line", "log_tail": "..."}``; a bad request
never stops the agent.

Lifetime: exactly one agent per home (an exclusive flock on ``agent/agent.lock``). On
start it re-adopts the services a previous agent left running (same pid *and* same
/proc start time, so a reused pid is never mistaken for ours) and starts the desired
ones that are gone. **SIGTERM or SIGINT ends the agent but leaves the services and the
blue/green environments' front processes running** (a SIGKILL does too), so
restarting or upgrading the agent takes no public port down; the ``shutdown`` order is
what stops every service and front (their desired state is kept, so the
next agent starts them again; ``stop`` is what forgets an environment, its front too).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from stageline.agent.fronts import RoutedFronts
from stageline.agent.process import ServiceProcess
from stageline.agent.release import DeploymentRef, EnvState, ReleaseSpec
from stageline.agent.spec import ProcessSpec, ServiceState, ServiceStatus, SpecError
from stageline.agent.state import (
    AgentPaths,
    RoutedFront,
    RunningEntry,
    load_desired,
    load_proxied,
    load_running,
    log_to,
    save_desired,
    save_proxied,
    save_running,
)
from stageline.agent.supervisor import SupervisionPolicy, Supervisor
from stageline.agent.switch import ProxiedEnvironment
from stageline.errors import AgentError

log = logging.getLogger("stageline.agent")
REQUEST_LIMIT = 16 * 1024 * 1024
Response = dict[str, Any]


class Agent:
    """Desired state, one supervisor per environment, and the socket that changes them."""

    def __init__(self, home: Path, policy: SupervisionPolicy | None = None) -> None:
        self.paths = AgentPaths(home)
        self.policy = policy or SupervisionPolicy()
        self.desired: dict[str, ProcessSpec] = {}
        self.supervisors: dict[str, Supervisor] = {}
        self.proxied: dict[str, ProxiedEnvironment] = {}
        self.fronts = RoutedFronts(
            self.paths, stop_grace=self.policy.stop_grace, on_change=self._save_running
        )
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._closing = False
        self._done = asyncio.Event()
        self._http = httpx.AsyncClient(trust_env=False)

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT (services keep running) or ``shutdown`` (they stop)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._done.set)
        self.desired = load_desired(self.paths)
        running = load_running(self.paths)
        await self._reconcile(running)
        await self._resume_proxied(running)
        await self.fronts.resume(running)
        self._save_running()
        self.paths.socket.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(
            self._serve_connection, path=str(self.paths.socket), limit=REQUEST_LIMIT
        )
        os.chmod(self.paths.socket, 0o600)
        log.info("agent %d serving %s", os.getpid(), self.paths.socket)
        try:
            await self._done.wait()
        finally:
            self._closing = True
            server.close()
            for supervisor in self.supervisors.values():
                supervisor.detach()
            for environment in self.proxied.values():
                environment.detach()
            self.fronts.detach()
            await self._http.aclose()
            log.info("agent %d exiting", os.getpid())

    # -- start-up --------------------------------------------------------------------

    async def _reconcile(self, running: dict[str, RunningEntry]) -> None:
        """Adopt what still runs from the last agent, start what should run and does not."""
        for env, entry in running.items():
            if ":" in env:  # a copy of a proxied environment: _resume_proxied's
                continue
            spec = self.desired.get(env)
            proc = ServiceProcess.adopt(entry.pid, entry.proc_start)
            if proc and spec and entry.release == spec.release:
                log.info("%s: adopted pid %d", env, proc.pid)
                supervisor = self.supervisors[env] = self._new_supervisor(spec)
                supervisor.adopt(proc, entry.started_at)
            elif proc:
                log.info("%s: stopping stray pid %d (not desired any more)", env, proc.pid)
                await proc.terminate(self.policy.stop_grace)
        for env, spec in self.desired.items():
            if env not in self.supervisors:
                supervisor = self._new_supervisor(spec)
                self.supervisors[env] = supervisor
                await supervisor.launch(auto_restart=True)

    async def _resume_proxied(self, running: dict[str, RunningEntry]) -> None:
        """Serve every blue/green environment again (see ``ProxiedEnvironment.resume``)."""
        for env, state in load_proxied(self.paths).items():
            environment = self.proxied[env] = self._new_proxied(env, state)
            async with environment.lock:
                try:
                    await environment.resume(running)
                except AgentError as exc:
                    log.error("%s: %s", env, exc)
        self._save_all()

    def _new_supervisor(self, spec: ProcessSpec) -> Supervisor:
        return Supervisor(spec, self._http, policy=self.policy, on_change=self._save_running)

    def _new_proxied(self, env: str, state: EnvState) -> ProxiedEnvironment:
        environment = ProxiedEnvironment(
            env,
            state,
            paths=self.paths,
            http=self._http,
            policy=self.policy,
            save=self._save_all,
        )
        environment.watch_idle()
        return environment

    def _save_running(self) -> None:
        entries: dict[str, RunningEntry | None] = {
            env: s.running_entry() for env, s in self.supervisors.items()
        }
        for environment in self.proxied.values():
            entries.update(environment.running_entries())
        entries.update(self.fronts.running_entries())
        save_running(self.paths, {env: e for env, e in entries.items() if e is not None})

    def _save_all(self) -> None:
        save_proxied(self.paths, {env: p.state for env, p in self.proxied.items()})
        self._save_running()

    def _set_desired(self, environment: str, spec: ProcessSpec | None) -> None:
        if spec is None:
            self.desired.pop(environment, None)
        else:
            self.desired[environment] = spec
        save_desired(self.paths, self.desired)

    # -- the socket --------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        shutdown = False
        try:
            while not shutdown:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than REQUEST_LIMIT: answer, then hang up
                    writer.write(json.dumps(_error("request is too long")).encode() + b"\n")
                    break
                if not line:
                    break
                response = await self._dispatch(line)
                shutdown = bool(response.pop("_shutdown", False))
                writer.write(json.dumps(response).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if shutdown:
                self._done.set()

    async def _dispatch(self, line: bytes) -> Response:
        try:
            request = json.loads(line)
        except ValueError:
            return _error("request is not valid JSON")
        if not isinstance(request, dict):
            return _error("request must be a JSON object")
        op = request.get("op")
        handlers = {
            "ping": self._op_ping,
            "start": self._op_start,
            "switch": self._op_switch,
            "outcome": self._op_outcome,
            "revert": self._op_revert,
            "wake": self._op_wake,
            "front": self._op_front,
            "stop": self._op_stop,
            "status": self._op_status,
            "shutdown": self._op_shutdown,
        }
        if not isinstance(op, str) or op not in handlers:
            return _error(f"unknown op {op!r}; valid: {', '.join(handlers)}")
        if self._closing:
            return _error("the agent is shutting down")
        try:
            return await handlers[op](request)
        except AgentError as exc:
            return _error(str(exc), log_tail=exc.log_tail)
        except SpecError as exc:
            return _error(f"bad request: {exc}")
        except Exception as exc:
            log.exception("op %s failed", op)
            return _error(f"internal error: {type(exc).__name__}: {exc} (see {self.paths.log})")

    # -- orders --------------------------------------------------------------------------

    async def _op_ping(self, request: dict[str, Any]) -> Response:
        return {"ok": True, "pid": os.getpid()}

    async def _op_start(self, request: dict[str, Any]) -> Response:
        spec = ProcessSpec.from_dict(request.get("spec"))
        timeout = request.get("health_timeout", 30)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise SpecError(f"health_timeout must be a positive number, not {timeout!r}")
        env = spec.environment
        async with self._locks[env]:
            await self._forget_proxied(env)
            previous = self.desired.get(env)
            old = self.supervisors.pop(env, None)
            if old is not None:
                await old.stop()
            self._set_desired(env, spec)
            supervisor = self.supervisors[env] = self._new_supervisor(spec)
            try:
                await supervisor.launch(auto_restart=False)
                await supervisor.wait_healthy(float(timeout))
            except AgentError:
                await supervisor.stop()
                del self.supervisors[env]
                self._set_desired(env, previous)
                self._save_running()
                raise
            supervisor.enable_restart()
            return {"ok": True, "status": supervisor.status().to_dict()}

    async def _op_switch(self, request: dict[str, Any]) -> Response:
        spec = ReleaseSpec.from_dict(request.get("release"))
        raw_ref = request.get("deployment")
        ref = DeploymentRef.from_dict(raw_ref) if raw_ref is not None else None
        env = spec.environment
        async with self._locks[env]:
            supervisor = self.supervisors.pop(env, None)
            if supervisor is not None:  # it was run by plain restarts: it gives way
                await supervisor.stop()
                self._set_desired(env, None)
                self._save_running()
            environment = self.proxied.get(env)
            if environment is None:
                environment = self.proxied[env] = self._new_proxied(env, EnvState(None))
            async with environment.lock:
                try:
                    described = await environment.switch(spec, ref)
                except AgentError:
                    if environment.state.serving is None:  # a first switch that failed
                        await environment.stop()
                        del self.proxied[env]
                        self._save_all()
                    raise
        return {"ok": True, "environment": described}

    async def _op_outcome(self, request: dict[str, Any]) -> Response:
        env = request.get("environment")
        timeout = request.get("timeout", 600)
        if not isinstance(env, str):
            raise SpecError("field 'environment' must be a string")
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout < 0:
            raise SpecError(f"timeout must be a non-negative number, not {timeout!r}")
        environment = self.proxied.get(env)
        if environment is None:
            raise AgentError(f"{env} is not served through the agent's proxy")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await environment.settled.wait()
        return {
            "ok": True,
            "settled": environment.settled.is_set(),
            "environment": await environment.describe(),
        }

    async def _op_revert(self, request: dict[str, Any]) -> Response:
        env, reason = request.get("environment"), request.get("reason")
        if not isinstance(env, str):
            raise SpecError("field 'environment' must be a string")
        if not isinstance(reason, str) or not reason.strip():
            raise SpecError("field 'reason' must be a non-empty string")
        environment = self.proxied.get(env)
        if environment is None:
            raise AgentError(f"{env} is not served through the agent's proxy")
        async with self._locks[env], environment.lock:
            described = await environment.revert(reason)
        return {"ok": True, "environment": described}

    async def _op_wake(self, request: dict[str, Any]) -> Response:
        env = request.get("environment")
        if not isinstance(env, str):
            raise SpecError("field 'environment' must be a string")
        environment = self.proxied.get(env)
        if environment is None:
            raise AgentError(f"{env} is not served through the agent's proxy")
        async with self._locks[env], environment.lock:
            await environment.wake()
        return {"ok": True, "environment": await environment.describe()}

    async def _op_front(self, request: dict[str, Any]) -> Response:
        env = request.get("environment")
        if not isinstance(env, str) or not env:
            raise SpecError("field 'environment' must be a string")
        front = RoutedFront.from_dict(request)
        async with self._locks[env]:
            if env in self.supervisors or env in self.proxied:
                raise AgentError(
                    f"{env} runs in the agent as a local environment: "
                    f"stop it first (`stageline stop {env}`)"
                )
            routed = await self.fronts.serve(env, front)
        return {"ok": True, "release": routed.get("release"), "ports": routed.get("ports", [])}

    async def _op_stop(self, request: dict[str, Any]) -> Response:
        env = request.get("environment")
        if not isinstance(env, str):
            raise SpecError("field 'environment' must be a string")
        async with self._locks[env]:
            supervisor = self.supervisors.pop(env, None)
            if supervisor is not None:
                await supervisor.stop()
                self._save_running()
            proxied = await self._forget_proxied(env)
            front = await self.fronts.stop(env)
            known = env in self.desired or supervisor is not None or proxied or front
            self._set_desired(env, None)
        return {"ok": True, "stopped": known}

    async def _forget_proxied(self, env: str) -> bool:
        environment = self.proxied.pop(env, None)
        if environment is None:
            return False
        async with environment.lock:
            await environment.stop()
        self._save_all()
        return True

    async def _op_status(self, request: dict[str, Any]) -> Response:
        services = {env: _idle_status(spec) for env, spec in self.desired.items()}
        services.update({env: s.status() for env, s in self.supervisors.items()})
        proxied = {env: await p.describe() for env, p in self.proxied.items()}
        for env, environment in self.proxied.items():
            services[env] = _proxied_status(environment)
        return {
            "ok": True,
            "services": {env: s.to_dict() for env, s in services.items()},
            "proxied": proxied,
            "fronts": await self.fronts.describe(),
        }

    async def _op_shutdown(self, request: dict[str, Any]) -> Response:
        self._closing = True
        supervisors = list(self.supervisors.values())
        self.supervisors.clear()
        await asyncio.gather(*(s.stop() for s in supervisors))
        await asyncio.gather(*(p.stop() for p in self.proxied.values()))
        await self.fronts.halt()
        self._save_running()  # proxied.json is kept: the next agent serves them again
        return {"ok": True, "_shutdown": True}


def _error(message: str, *, log_tail: str = "") -> Response:
    return {"ok": False, "error": message, "log_tail": log_tail}


def _idle_status(spec: ProcessSpec) -> ServiceStatus:
    return ServiceStatus(
        environment=spec.environment,
        release=spec.release,
        pid=None,
        port=spec.port,
        state="stopped",
        healthy=False,
        restarts=0,
        started_at=None,
        last_exit=None,
    )


def _proxied_status(environment: ProxiedEnvironment) -> ServiceStatus:
    """One line for a blue/green environment: the serving release, its first process,
    the public port; ``running``/``healthy`` only if every copy is; ``idle`` (no pid)
    once it scaled to zero and its last process has exited."""
    fleet = environment.serving
    if environment.state.idle and environment.state.serving is not None and fleet is None:
        return _scaled_to_zero_status(environment, environment.state.serving.spec)
    statuses = [s.status() for s in fleet.supervisors] if fleet else []
    front = environment.front
    states = {s.state for s in statuses}
    state: ServiceState = "stopped"
    for candidate in ("crashed", "backoff", "starting", "running"):
        if candidate in states:
            state = candidate
            break
    return ServiceStatus(
        environment=environment.name,
        release=fleet.release if fleet else "",
        pid=statuses[0].pid if statuses else None,
        port=front.port if front else fleet.group.spec.public_port if fleet else 1,
        state=state,
        healthy=bool(statuses) and all(s.healthy for s in statuses),
        restarts=sum(s.restarts for s in statuses),
        started_at=min((s.started_at for s in statuses if s.started_at), default=None),
        last_exit=next((s.last_exit for s in statuses if s.last_exit is not None), None),
    )


def _scaled_to_zero_status(environment: ProxiedEnvironment, spec: ReleaseSpec) -> ServiceStatus:
    front = environment.front
    return ServiceStatus(
        environment=environment.name,
        release=spec.release,
        pid=None,
        port=front.port if front else spec.public_port,
        state="idle",
        healthy=False,
        restarts=0,
        started_at=None,
        last_exit=None,
    )


def run_agent(
    home: Path, policy: SupervisionPolicy | None = None, *, log_file: Path | None = None
) -> None:
    """Run the agent for ``home`` (a .stageline folder) in this process until it is told
    to end; with ``log_file``, log there (rotated). Raises AgentError if another agent
    already runs for the same home."""
    paths = AgentPaths(home.resolve())
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.check_socket_path()
    if log_file is not None:
        log_to(log_file)
    elif not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per health check
    lock_fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(paths.pid)
            raise AgentError(
                f"an agent already runs for {paths.home} (pid {holder or 'unknown'})",
                hint="talk to it with `stageline agent status`, or stop it first",
            ) from None
        paths.pid.write_text(f"{os.getpid()}\n", encoding="utf-8")
        try:
            asyncio.run(Agent(paths.home, policy).run())
        finally:
            paths.socket.unlink(missing_ok=True)
            paths.pid.unlink(missing_ok=True)
    finally:
        os.close(lock_fd)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
