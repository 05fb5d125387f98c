"""Scale to zero: an environment that gets no request for ``scale_to_zero_after``
seconds stops its processes; its front keeps the port and starts it again on demand.

Who does what:

- the **front** (``front.py``) measures quiet: an :class:`IdleClock` sampled at each of
  the agent's looks (its request count and requests in flight), so the proxy needs no
  clock of its own. On the agent's ``sleep`` order it re-checks, in one step of its event
  loop, that it is still quiet; only then does it route to nothing. A request that finds
  it asleep waits in :class:`Waker`: one ``wake`` order goes to the agent however many
  requests wait, and they all go on once the front routes again (or get a 503 with
  ``Retry-After`` after :func:`wake_timeout`: the proxy's one hook, ``Proxy.waker``);
- the **agent** (``switch.py``) looks every :func:`poll_interval` seconds
  (:func:`watch_idle`) and scales down when :func:`should_scale_down` says so: the
  serving release's processes (web copies and workers) are *stopped*, not crashed, and
  ``proxied.json`` records the environment ``idle`` (a restarted agent leaves it so). On
  ``wake`` it starts the very same release spec again (same digest, variables and
  release folder: no build, no release command, no migration) on fresh internal ports,
  waits for its health check and has the front route to it.

Never while busy: a switch pending, an old release draining, or a watch window open
(a deploy's verdict is never judged on a release that scaled down). Health checks the
agent itself makes go to the internal ports and do not count as requests; every request
through the public port does, stageline's own ``health()`` included (see
docs/scale-to-zero.md: ``stageline status`` and the dashboard do not send one to an idle
environment, so looking does not wake it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from stageline.agent.client import AgentClient
from stageline.agent.state import AgentPaths
from stageline.errors import AgentError

if TYPE_CHECKING:
    from stageline.agent.switch import ProxiedEnvironment

log = logging.getLogger("stageline.agent")
#: seconds between the agent's looks at an environment that does not scale to zero (its
#: next release might)
UNSET_POLL = 5.0
#: seconds a held request may wait beyond the release's own health timeout
WAKE_MARGIN = 10.0
#: seconds between the front's attempts to reach an agent that did not answer ``wake``
WAKE_RETRY = 1.0


# -- decisions (pure) ----------------------------------------------------------------------


def poll_interval(after: float | None) -> float:
    """Seconds between the agent's looks: a tenth of ``after`` (so an environment sleeps
    at most ~10% late), between 0.2 and 5 seconds; :data:`UNSET_POLL` when unset."""
    if after is None:
        return UNSET_POLL
    return min(max(after / 10, 0.2), 5.0)


def should_scale_down(after: float | None, idle_for: float, in_flight: int, busy: bool) -> bool:
    """True when the environment scales to zero now: it is set to (``after``), nothing is
    in flight, it has been quiet at least ``after`` seconds, and it is not ``busy`` (a
    switch, a drain or a watch window)."""
    return after is not None and not busy and in_flight == 0 and idle_for >= after


def wake_timeout(health_timeout: float) -> float:
    """How long a request that found the environment asleep waits for it: the release's
    own health timeout and :data:`WAKE_MARGIN` for starting its processes."""
    return health_timeout + WAKE_MARGIN


class IdleClock:
    """Seconds since a front last saw traffic, from samples (the caller passes the time).

    Each :meth:`look` gives the request count so far and the requests in flight; a
    count that moved, or any request in flight, restarts the quiet at that look. So the
    quiet is measured to within one look, and a request that takes longer than ``after``
    never lets the environment sleep under it."""

    def __init__(self, now: float) -> None:
        self._count = 0
        self._since = now

    def look(self, requests: int, in_flight: int, now: float) -> float:
        if requests != self._count or in_flight:
            self._count, self._since = requests, now
        return max(now - self._since, 0.0)

    def restart(self, now: float) -> None:
        """Quiet starts over (the front routes to a release again)."""
        self._since = now


# -- the front's side ----------------------------------------------------------------------


class Waker:
    """Where the front's requests wait while the agent starts an idle environment again.

    :meth:`wait` returns True once the front routes to a release (``routed`` was called),
    False after ``timeout`` seconds. The first waiter sends the agent ``wake`` (again
    every :data:`WAKE_RETRY` seconds while it fails); the others join. An agent that is
    not running (it was stopped with SIGTERM, which leaves the fronts serving) is
    started, as any stageline command would start it."""

    def __init__(self, paths: AgentPaths, environment: str) -> None:
        self.paths, self.environment = paths, environment
        self.timeout = wake_timeout(60.0)
        self.wakes = 0  # times this front asked the agent to wake the environment
        self._routed = asyncio.Event()
        self._asking: asyncio.Task[None] | None = None

    def routed(self, yes: bool) -> None:
        """The front routes to a release (True) or to nothing (False) from now on."""
        if yes:
            self._routed.set()
        else:
            self._routed.clear()

    async def wait(self) -> bool:
        if self._routed.is_set():
            return True
        if self._asking is None or self._asking.done():
            self.wakes += 1
            self._asking = asyncio.create_task(self._ask(), name=f"wake {self.environment}")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timeout):
                await self._routed.wait()
        return self._routed.is_set()

    async def close(self) -> None:
        if self._asking is not None:
            self._asking.cancel()
            await asyncio.gather(self._asking, return_exceptions=True)

    async def _ask(self) -> None:
        """Order ``wake`` until the agent says it is done (it then has routed us) or we
        route again anyway; an agent that is down or fails is asked again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self._routed.is_set() and loop.time() < deadline:
            try:
                answer = await _order_agent(
                    self.paths, {"op": "wake", "environment": self.environment}, self.timeout
                )
            except (FileNotFoundError, ConnectionRefusedError):  # no agent runs: start one
                answer = await asyncio.to_thread(_start_agent, self.paths)
                if answer.get("ok"):
                    continue
            except (OSError, TimeoutError, ValueError) as exc:
                answer = {"ok": False, "error": f"the agent did not answer: {exc!r}"}
            if answer.get("ok"):
                return
            log.warning("%s: wake failed: %s", self.environment, answer.get("error"))
            await asyncio.sleep(WAKE_RETRY)


def _start_agent(paths: AgentPaths) -> dict[str, Any]:
    """Start this home's agent (it re-adopts the front that asks); an answer-like dict."""
    try:
        AgentClient(paths.home).ensure_running()
    except AgentError as exc:
        return {"ok": False, "error": f"could not start the agent: {exc}"}
    log.info("started the agent to wake the environment")
    return {"ok": True}


async def _order_agent(paths: AgentPaths, order: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One order on the agent's socket, its JSON answer (OSError/TimeoutError/ValueError)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(str(paths.socket))
        try:
            writer.write(json.dumps(order).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
    answer = json.loads(line)
    if not isinstance(answer, dict):
        raise ValueError("the agent's answer is not a JSON object")
    return answer


# -- the agent's side ----------------------------------------------------------------------


async def watch_idle(environment: ProxiedEnvironment) -> None:
    """Forever (until cancelled): look at ``environment`` every :func:`poll_interval`
    seconds and scale it to zero when :func:`should_scale_down` says so."""
    while True:
        after = environment.scale_to_zero_after
        await asyncio.sleep(poll_interval(after))
        if after is None or environment.state.idle or environment.front is None:
            continue
        if environment.busy:
            continue
        seen = await environment.front.stats()
        idle_for = float(seen.get("idle_for", 0.0))
        in_flight = int(seen.get("in_flight", 0))
        if not should_scale_down(after, idle_for, in_flight, environment.busy):
            continue
        async with environment.lock:
            if environment.busy or environment.state.idle:
                continue
            try:
                await environment.scale_down(after)
            except Exception:  # the next look tries again; the agent goes on
                log.exception("%s: scaling to zero failed", environment.name)
