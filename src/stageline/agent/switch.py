"""Blue/green for one environment: a front process on its public port and the release
behind it.

``switch`` starts every copy of the new release on internal ports beside the serving
one, waits until all pass their health check (any failure: they are stopped, and the
serving release never stopped serving), writes the new state to disk, has the
environment's front process (``front.py``) reload it and waits for its answer (the
atomic switch), and returns. In the background it then drains the old
release's requests in flight (up to ``drain_timeout``), stops it, and **watches** the new
one for ``watch`` seconds: a crash, or ``failures`` health checks failed in a row (each
allowed ``check_timeout`` seconds), starts the previous release again, switches it back
in and records the deployment as ``rolled_back``. ``revert`` does the same on request
while the window is open (a failed after-deploy check).

Crash safety comes from the order of writes (see ``release.py``): a restarted agent
serves ``serving`` and stops everything else; a deployment caught before its switch is
recorded ``failed``, one caught after it ``succeeded`` (then watched for what is left of
its window).

Test-only fault injection: with ``STAGELINE_AGENT_FAULT`` set to one of :data:`FAULTS`,
the agent SIGKILLs itself at that point of a switch, once (a marker file in the agent
folder keeps the restarted agent from doing it again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from stageline.agent.fronts import FrontProcess, front_key
from stageline.agent.idle import watch_idle
from stageline.agent.process import ServiceProcess
from stageline.agent.record import note_at, settle_at
from stageline.agent.release import (
    DeploymentRef,
    EnvState,
    Group,
    Outcome,
    ReleaseSpec,
    process_key,
)
from stageline.agent.state import AgentPaths, RunningEntry
from stageline.agent.supervisor import SupervisionPolicy, Supervisor
from stageline.errors import AgentError
from stageline.values import label

if TYPE_CHECKING:
    from stageline.state.models import DeploymentStatus

log = logging.getLogger("stageline.agent")
FAULTS = ("after-start", "after-switch", "during-drain", "during-watch")
WATCH_POLL = 0.2


def fault(paths: AgentPaths, point: str) -> None:
    """The test-only fault-injection hook (see the module docstring)."""
    if os.environ.get("STAGELINE_AGENT_FAULT") != point:
        return
    marker = paths.dir / f"fault-fired-{point}"
    if marker.exists():
        return
    marker.write_text(f"{os.getpid()}\n")
    log.warning("fault injection: SIGKILL at %s", point)
    os.kill(os.getpid(), signal.SIGKILL)


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct ports the kernel says are free right now."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return tuple(sock.getsockname()[1] for sock in socks)
    finally:
        for sock in socks:
            sock.close()


@dataclass
class Fleet:
    """The live processes of one group."""

    group: Group
    supervisors: list[Supervisor]

    @property
    def release(self) -> str:
        return self.group.spec.release

    def failure(self) -> str | None:
        """Why this release is not well (a crash; ``failures`` health checks failed in a
        row, each allowed ``check_timeout`` seconds), or None."""
        spec = self.group.spec
        for supervisor in self.supervisors:
            status = supervisor.status()
            if status.state in ("crashed", "backoff") or status.restarts:
                code = status.last_exit
                return f"a process of the new release exited (code {code}) during the watch window"
            if status.state == "running" and supervisor.failed_checks >= spec.failures:
                return (
                    f"the new release failed {supervisor.failed_checks} health checks in a row "
                    f"({supervisor.health_url}, {spec.check_timeout:g}s each; last: "
                    f"{supervisor.last_check}) during the watch window"
                )
        return None

    async def wait_healthy(self, timeout: float) -> None:
        await asyncio.gather(*(s.wait_healthy(timeout) for s in self.supervisors))

    async def wait_serving(self, timeout: float) -> None:
        """Wait for the web copies only; the workers are restarted if they exit (a release
        that ran here before need not prove its workers settle before requests go on)."""
        for supervisor in self.supervisors:
            if not supervisor.spec.serves_http:
                supervisor.enable_restart()
        web = [s for s in self.supervisors if s.spec.serves_http]
        await asyncio.gather(*(s.wait_healthy(timeout) for s in web))

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.supervisors))


class ProxiedEnvironment:
    """One blue/green environment inside the agent. Every change goes through ``lock``."""

    def __init__(
        self,
        name: str,
        state: EnvState,
        *,
        paths: AgentPaths,
        http: httpx.AsyncClient,
        policy: SupervisionPolicy,
        save: Callable[[], None],
    ) -> None:
        self.name = name
        self.state = state
        self.paths = paths
        self._http = http
        self._policy = policy
        self._save = save  # writes proxied.json and running.json
        self.lock = asyncio.Lock()
        self.front: FrontProcess | None = None
        self.serving: Fleet | None = None
        self.pending: Fleet | None = None
        self.draining: list[Fleet] = []
        self._after: asyncio.Task[None] | None = None
        self._idle_watch: asyncio.Task[None] | None = None
        self.settled = asyncio.Event()
        self.settled.set()

    # -- reading -------------------------------------------------------------------------

    def fleets(self) -> list[Fleet]:
        found = [self.serving, self.pending, *self.draining]
        return [fleet for fleet in found if fleet is not None]

    def running_entries(self) -> dict[str, RunningEntry]:
        entries = {}
        for fleet in self.fleets():
            for supervisor in fleet.supervisors:
                entry = supervisor.running_entry()
                if entry is not None:
                    entries[process_key(self.name, supervisor.spec)] = entry
        front = self.front.running_entry() if self.front else None
        if front is not None:
            entries[front_key(self.name)] = front
        return entries

    @property
    def scale_to_zero_after(self) -> float | None:
        """The serving release's idle time before it scales to zero (None: never)."""
        serving = self.state.serving
        return serving.spec.scale_to_zero_after if serving is not None else None

    @property
    def busy(self) -> bool:
        """A switch, a drain or a watch window is under way (no scaling to zero then)."""
        return not self.settled.is_set() or self.pending is not None or bool(self.draining)

    async def describe(self) -> dict[str, Any]:
        """What ``status`` answers for this environment (``front``: its front process's
        pid, connections and refusals, empty if it does not answer; ``idle``: scaled to
        zero, ``serving`` then names the release the next request starts again)."""
        until = self.state.watch_until
        left = max(until - time.time(), 0.0) if until is not None else 0.0
        front = await self.front.stats() if self.front else {}
        serving = self.state.serving
        return {
            "public_port": self.front.port if self.front else None,
            "serving": serving.spec.release if serving else None,
            "idle": self.state.idle,
            "pending": self.pending.release if self.pending else None,
            "draining": [fleet.release for fleet in self.draining],
            "watching_for": round(left, 1),
            "processes": [
                s.status().to_dict() for s in (self.serving.supervisors if self.serving else [])
            ],
            "requests": front.get("requests", 0),
            "front": {
                k: front[k] for k in ("pid", "connections", "refused", "wakes") if k in front
            },
            "outcome": self.state.outcome.__dict__ if self.state.outcome else None,
        }

    # -- start-up ------------------------------------------------------------------------

    async def resume(self, running: dict[str, RunningEntry]) -> None:
        """Come back after an agent restart: serve ``serving`` (adopting its processes),
        stop whatever else of ours still runs, settle an unfinished switch."""
        state = self.state
        entries = {k: e for k, e in running.items() if k.startswith(f"{self.name}:")}
        front = entries.pop(front_key(self.name), None)
        keep: dict[str, RunningEntry] = {}
        if state.serving is not None:
            for spec in state.serving.processes():
                key = process_key(self.name, spec)
                entry = entries.get(key)
                if entry is not None and entry.release == state.serving.spec.release:
                    keep[key] = entry
        for key, entry in entries.items():
            if key not in keep:
                proc = ServiceProcess.adopt(entry.pid, entry.proc_start)
                if proc is not None:
                    log.info("%s: stopping pid %d (not serving)", self.name, proc.pid)
                    await proc.terminate(self._policy.stop_grace)
        if state.serving is not None:
            if not state.idle:  # an idle one stays so: the next request wakes it
                self.serving = await self._fleet(state.serving, adopt=keep)
            await self._open_front(state.serving.spec, adopt=front)
        elif front is not None:
            proc = ServiceProcess.adopt(front.pid, front.proc_start)
            if proc is not None:
                await proc.terminate(self._policy.stop_grace)
        ref = state.deployment
        if state.pending is not None:
            self.state = replace(state, pending=None)
            if ref is not None:
                await self._finish(ref, "failed", "the agent stopped before the switch")
        elif ref is not None and state.watch_until is not None:
            await self._record(ref, "succeeded", "")
            if state.watch_until > time.time():
                self.settled.clear()
                self._after = asyncio.create_task(self._watch_then_settle())
            else:
                await self._finish(ref, "succeeded", "")
        self._save()

    @property
    def serving_release(self) -> str | None:
        return self.serving.release if self.serving else None

    # -- the switch ----------------------------------------------------------------------

    async def switch(self, spec: ReleaseSpec, ref: DeploymentRef | None) -> dict[str, Any]:
        """Start ``spec`` beside the serving release, switch to it once healthy, return;
        drain, stop and watch go on in the background. Caller holds ``lock``."""
        await self._interrupt_watch()
        await self._open_front(spec)
        group = Group(spec, free_ports(spec.processes))
        self.state = replace(self.state, pending=group, deployment=ref, outcome=None)
        self.settled.clear()
        self._save()
        try:
            self.pending = await self._fleet(group)
            self._save()
            fault(self.paths, "after-start")
            await self.pending.wait_healthy(spec.health_timeout)
        except (AgentError, OSError) as exc:
            if self.pending is not None:
                await self.pending.stop()
            self.pending = None
            self.state = replace(self.state, pending=None, deployment=None)
            self.settled.set()
            self._save()
            if isinstance(exc, OSError):
                raise AgentError(f"could not start {spec.template.argv[0]!r}: {exc}") from exc
            raise
        new = self.pending
        for supervisor in new.supervisors:
            supervisor.enable_restart()
        old_spec = self.state.serving.spec if self.state.serving else None
        await self._commit(new, previous=old_spec, watch=spec.watch)
        fault(self.paths, "after-switch")
        self._after = asyncio.create_task(self._drain_watch_settle())
        return await self.describe()

    async def _commit(self, new: Fleet, *, previous: ReleaseSpec | None, watch: float) -> None:
        """The switch: state on disk first, then the front reloads it (and says so)."""
        old = self.serving
        self.state = replace(
            self.state,
            serving=new.group,
            pending=None,
            previous=previous,
            watch_until=time.time() + watch,
            idle=False,
        )
        self.pending, self.serving = None, new
        if old is not None:
            self.draining.append(old)
        self._save()
        await self._reload_front()
        log.info("%s: switched to %s", self.name, label(new.release))

    async def _reload_front(self) -> None:
        """Have the front route as the state on disk says; a front that cannot is logged
        (the deploying command's check through the public port then fails the deploy)."""
        assert self.front is not None
        try:
            routed = await self.front.reload()
        except AgentError as exc:
            log.error("%s: the front did not take the switch: %s", self.name, exc)
            return
        serving = self.serving.release if self.serving else None
        if routed.get("release") != serving:
            log.error(
                "%s: the front routes to %s, not %s", self.name, routed.get("release"), serving
            )

    async def _drain_watch_settle(self) -> None:
        try:
            await self._drain_old()
            await self._watch_then_settle()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: after the switch", self.name)
            self.settled.set()

    async def _drain_old(self) -> None:
        for fleet in list(self.draining):
            timeout = self.serving.group.spec.drain_timeout if self.serving else 0.0
            fault(self.paths, "during-drain")
            drained = await self.front.drain(fleet.group.ports, timeout) if self.front else True
            if not drained:
                log.warning(
                    "%s: requests still in flight after %gs; stopping %s anyway",
                    self.name,
                    timeout,
                    label(fleet.release),
                )
            await fleet.stop()
            self.draining.remove(fleet)
            self._save()

    async def _watch_then_settle(self) -> None:
        ref = self.state.deployment
        fault(self.paths, "during-watch")
        reason = await self._watch()
        async with self.lock:
            if reason is None:
                self.state = replace(self.state, previous=None, watch_until=None)
                await self._finish(ref, "succeeded", "")
                self._save()
            else:
                await self._roll_back(reason, ref)
            self.settled.set()

    async def _watch(self) -> str | None:
        """Watch the serving release until the window closes; the reason it failed, or None."""
        until = self.state.watch_until or 0.0
        while time.time() < until:
            fleet = self.serving
            reason = fleet.failure() if fleet is not None else None
            if reason is not None:
                return reason
            await asyncio.sleep(min(WATCH_POLL, max(until - time.time(), 0)))
        return None

    async def _roll_back(self, reason: str, ref: DeploymentRef | None) -> None:
        previous = self.state.previous
        bad = self.serving
        if previous is None or bad is None:
            log.warning("%s: %s; no previous release to switch back to", self.name, reason)
            self.state = replace(self.state, watch_until=None)
            if ref is not None:
                await self._finish(ref, "succeeded", "")
            self._save()
            return
        log.warning("%s: %s; switching %s back in", self.name, reason, label(previous.release))
        await self._note(ref, "switch_back.started", reason=reason, to=previous.release)
        group = Group(previous, free_ports(previous.processes))
        self.state = replace(self.state, pending=group)
        self._save()
        try:
            self.pending = await self._fleet(group)
            await self.pending.wait_healthy(previous.health_timeout)
        except (AgentError, OSError) as exc:
            log.error("%s: the previous release did not start again: %s", self.name, exc)
            await self._note(ref, "switch_back.failed", reason=reason, error=str(exc))
            if self.pending is not None:
                await self.pending.stop()
            self.pending = None
            self.state = replace(self.state, pending=None, watch_until=None)
            if ref is not None:
                kept = f"{reason}; switching back failed ({exc}): the new release keeps serving"
                await self._finish(ref, "succeeded", kept)
            self._save()
            return
        for supervisor in self.pending.supervisors:
            supervisor.enable_restart()
        await self._commit(self.pending, previous=None, watch=0)
        self.state = replace(self.state, watch_until=None)
        await self._finish(ref, "rolled_back", reason)
        await self._note(ref, "switch_back.done", reason=reason, to=previous.release)
        self._save()
        await self._drain_old()

    async def revert(self, reason: str) -> dict[str, Any]:
        """Switch the previous release back in because of ``reason`` (an after-deploy check
        failed), exactly as a crash in the watch window does, and record the deployment
        ``rolled_back`` with that reason. Caller holds ``lock``. AgentError (nothing
        changed) once the window has closed, or when there is no earlier release."""
        if self.serving is None or self.state.watch_until is None:
            raise AgentError(
                f"{self.name}'s watch window has closed: the previous release is not kept",
                hint="keep `watch` longer than the after-deploy checks take",
            )
        if self.state.previous is None:
            raise AgentError(f"{self.name} has no earlier release to switch back to")
        task, self._after = self._after, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._roll_back(reason, self.state.deployment)
        self.settled.set()
        return await self.describe()

    async def _interrupt_watch(self) -> None:
        """A new switch ends the watch of the last one: what serves now is accepted."""
        task, self._after = self._after, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for fleet in list(self.draining):
            await fleet.stop()
            self.draining.remove(fleet)
        ref = self.state.deployment
        if ref is not None and self.state.pending is None:
            await self._finish(ref, "succeeded", "")
        self.state = replace(self.state, previous=None, watch_until=None)
        self.settled.set()

    # -- scale to zero (idle.py) ---------------------------------------------------------

    def watch_idle(self) -> None:
        """Start looking for idleness (``idle.watch_idle``) until ``stop`` or ``detach``."""
        if self._idle_watch is None:
            self._idle_watch = asyncio.create_task(watch_idle(self), name=f"idle {self.name}")

    async def scale_down(self, after: float) -> bool:
        """Scale to zero: record ``idle``, have the front re-check that it saw no request
        for ``after`` seconds and route to nothing, then stop every process of the
        serving release. False (nothing changed) if the front saw one meanwhile. Caller
        holds ``lock``."""
        fleet = self.serving
        if fleet is None or self.front is None:
            return False
        self.state = replace(self.state, idle=True)
        self._save()
        try:
            answer = await self.front.order({"op": "sleep", "after": after})
        except AgentError as exc:
            answer = {"asleep": False}
            log.warning("%s: the front did not take the scale-down: %s", self.name, exc)
        if not answer.get("asleep"):
            self.state = replace(self.state, idle=False)
            self._save()
            await self._reload_front()
            return False
        await self.front.drain(fleet.group.ports, 0)
        await fleet.stop()
        self.serving = None  # only now does status say idle: no process is left
        self._save()
        log.info("%s: idle for %gs: scaled to zero", self.name, after)
        return True

    async def wake(self) -> None:
        """After scale to zero: start the serving release again, exactly as recorded
        (same spec: digest, variables, release folder) on fresh internal ports, and return
        once its web copies are healthy and the front routes to it. Not idle: only has the
        front route as recorded. AgentError (still idle) if it does not start. Caller
        holds ``lock``."""
        serving = self.state.serving
        if self.state.idle and serving is not None:
            group = Group(serving.spec, free_ports(serving.spec.processes))
            try:
                fleet = await self._fleet(group)
                await fleet.wait_serving(serving.spec.health_timeout)
            except (AgentError, OSError) as exc:
                if self.pending is not None:
                    await self.pending.stop()
                self.pending = None
                raise AgentError(
                    f"{self.name} did not start again after being idle: {exc}",
                    log_tail=getattr(exc, "log_tail", ""),
                ) from exc
            self.pending = None
            for supervisor in fleet.supervisors:
                supervisor.enable_restart()
            self.serving = fleet
            self.state = replace(self.state, serving=group, idle=False)
            self._save()
            log.info("%s: woken up: %s serves again", self.name, label(fleet.release))
        if self.front is not None:
            await self._reload_front()

    # -- stopping ------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the front (the public port closes) and every process (the state is the
        caller's to keep or drop)."""
        for task in (self._after, self._idle_watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._after = self._idle_watch = None
        if self.front is not None:
            await self.front.stop()
            self.front = None
        fleets, self.serving, self.pending, self.draining = self.fleets(), None, None, []
        await asyncio.gather(*(fleet.stop() for fleet in fleets))
        self.settled.set()

    def detach(self) -> None:
        """The agent is exiting on SIGTERM: leave the processes and the front running."""
        for task in (self._after, self._idle_watch):
            if task is not None:
                task.cancel()
        for fleet in self.fleets():
            for supervisor in fleet.supervisors:
                supervisor.detach()
        if self.front is not None:
            self.front.detach()

    # -- internals -----------------------------------------------------------------------

    async def _open_front(self, spec: ReleaseSpec, adopt: RunningEntry | None = None) -> None:
        """Make sure a front serves ``spec``'s public port: the one that does, one a
        previous agent left (``adopt``), or a new one. AgentError if the port is taken."""
        front = self.front
        if front is not None and (front.host, front.port) == (spec.host, spec.public_port):
            return
        if front is not None:
            await front.stop()
            self.front = None
        front = FrontProcess(
            self.paths,
            self.name,
            spec.host,
            spec.public_port,
            stop_grace=self._policy.stop_grace,
            on_change=self._save,
        )
        if adopt is None or not await front.adopt(adopt):
            await front.start()
        self.front = front
        self._save()
        await self._reload_front()

    async def _fleet(self, group: Group, adopt: dict[str, RunningEntry] | None = None) -> Fleet:
        """Start (or adopt) every copy of ``group``; raises AgentError/OSError on a first
        start that fails (the copies started so far are part of the fleet returned by
        the exception's cleanup path only through ``self.pending``)."""
        supervisors: list[Supervisor] = []
        fleet = Fleet(group, supervisors)
        policy = replace(self._policy, health_request_timeout=group.spec.check_timeout)
        if adopt is None:
            self.pending = fleet
        for spec in group.processes():
            supervisor = Supervisor(spec, self._http, policy=policy, on_change=self._save)
            supervisors.append(supervisor)
            entry = (adopt or {}).get(process_key(self.name, spec))
            proc = ServiceProcess.adopt(entry.pid, entry.proc_start) if entry else None
            if entry is not None and proc is not None:
                log.info("%s: adopted %s pid %d", self.name, spec.process_type, proc.pid)
                supervisor.adopt(proc, entry.started_at)
            else:
                await supervisor.launch(auto_restart=adopt is not None)
        return fleet

    async def _record(self, ref: DeploymentRef, status: DeploymentStatus, reason: str) -> bool:
        try:
            await asyncio.to_thread(settle_at, ref.store, self.name, ref.id, status, reason)
        except Exception as exc:  # the store may be down; the next command reconciles
            log.warning("%s: could not record deployment %d: %s", self.name, ref.id, exc)
            return False
        return True

    async def _note(self, ref: DeploymentRef | None, kind: str, **data: str) -> None:
        if ref is None:
            return
        try:
            await asyncio.to_thread(note_at, ref.store, self.name, ref.id, ref.digest, kind, **data)
        except Exception as exc:  # the store may be down: the agent's log keeps it
            log.warning("%s: could not record %s: %s", self.name, kind, exc)

    async def _finish(
        self, ref: DeploymentRef | None, status: DeploymentStatus, reason: str
    ) -> None:
        recorded = await self._record(ref, status, reason) if ref is not None else False
        self.state = replace(
            self.state,
            deployment=None,
            outcome=Outcome(status, reason, ref.id if ref else None, recorded),
        )
