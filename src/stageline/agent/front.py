"""``python -m stageline.agent.front``: one blue/green environment's public port, in a
process of its own.

The agent starts one front per blue/green environment, in its own session (as it does
services), so a SIGKILLed or upgraded agent leaves every public port serving, and a
flood on one environment's port is that front's problem only (``proxy.Limits``). The
front holds the listening socket and routes to the release ``proxied.json`` names as
``serving`` for its environment. It reads that file at start and again on each
``reload`` order: the agent writes the file (atomically), then sends ``reload`` and
waits for the answer, so when the agent goes on to drain and stop the old copies, the
front has already stopped sending them new requests.

Orders come over a unix socket (``AgentPaths.front_socket``), one JSON line each way::

    ping                  -> {"ok": true, "pid", "port", "release", "ports", "requests",
                              "connections", "refused", "idle_for", "in_flight",
                              "asleep", "wakes"}
    reload                -> {"ok": true, "release", "ports"}   routes as proxied.json says
    drain  ports, timeout -> {"ok": true, "drained": bool, "in_flight": N}
    sleep  after          -> {"ok": true, "asleep": bool}   scale to zero (``idle.py``)
    flush                 -> {"ok": true, "written": N}   the traffic profile, now

When the serving release says ``record_traffic``, the proxy records the environment's
traffic profile in memory (``stageline.traffic.recorder``); a timer writes each ended
minute to ``envs/<env>/traffic/`` (or the folder ``--traffic`` names: a swarm
environment's front keeps its other files elsewhere) every ``FLUSH_EVERY`` seconds (in a
worker thread), and the front writes what it holds when it exits or is told to
``flush`` (:func:`flush`: a command's way to ask). When it starts recording it learns the
routes written in the last ``LEARN_DAYS`` days (see ``traffic/vocabulary.py``).

``drain`` waits until no request is in flight to the release on ``ports`` (one the front
switched away from; its ports name it, whatever hosts they are on: two releases of one
environment never share a port), then closes its pooled connections. ``sleep`` routes to nothing
(proxied.json already says ``idle``) only if no request came for ``after`` seconds and
none is in flight; while asleep a request waits for the agent to ``wake`` the
environment (``idle.Waker``). The front raises its open-file limit to the hard limit at
start, and logs to ``front-<env>.log``, rotated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stageline.agent.idle import IdleClock, Waker, wake_timeout
from stageline.agent.proxy import Backends, Proxy
from stageline.agent.release import Address
from stageline.agent.state import AgentPaths, load_proxied, log_to
from stageline.errors import AgentError
from stageline.traffic.minutes import MinuteRecord
from stageline.traffic.recorder import Recorder
from stageline.traffic.store import TrafficStore, traffic_dir
from stageline.traffic.vocabulary import Vocabulary
from stageline.values import label

log = logging.getLogger("stageline.agent.front")
ORDER_LIMIT = 64 * 1024
EXIT_CANNOT_LISTEN = 2
FLUSH_EVERY = 5.0  # seconds between looks for ended minutes of traffic to write
LEARN_DAYS = 2  # days of recorded routes a front learns when it starts recording
Answer = dict[str, Any]


class Front:
    """The proxy of one environment, and the control socket that re-routes it."""

    def __init__(
        self, paths: AgentPaths, environment: str, proxy: Proxy, traffic: Path | None = None
    ) -> None:
        self.paths, self.environment, self.proxy = paths, environment, proxy
        self._retired: dict[tuple[int, ...], Backends] = {}
        self._done = asyncio.Event()
        self.clock = IdleClock(time.monotonic())
        self.waker = Waker(paths, environment)
        self.traffic = TrafficStore(traffic or traffic_dir(paths.home, environment))
        self._recorder: Recorder | None = None  # kept after recording stops, to flush

    def routes(self) -> tuple[str, tuple[Address, ...]] | None:
        """The release and addresses proxied.json says this environment serves (None
        when it serves nothing, or is idle: requests then wait for its ``wake``); arms
        the proxy's waker when idle."""
        state = load_proxied(self.paths).get(self.environment)
        serving = state.serving if state is not None else None
        idle = serving is not None and state is not None and state.idle
        self.proxy.waker = self._woken if idle else None
        if serving is None:
            return None
        self.waker.timeout = wake_timeout(serving.spec.health_timeout)
        if idle:
            return None
        return serving.spec.release, serving.addresses

    async def _woken(self) -> Backends | None:
        """For a request that found the environment idle: the release once it serves
        again, or None (it did not start in time)."""
        return self.proxy.backends if await self.waker.wait() else None

    def records_traffic(self) -> bool:
        """Whether the serving release says to record the traffic profile."""
        state = load_proxied(self.paths).get(self.environment)
        return state is not None and state.serving is not None and state.serving.spec.record_traffic

    def reload(self) -> Answer:
        """Route as proxied.json says; the replaced backends wait for their ``drain``."""
        found = self.routes()
        self.waker.routed(found is not None)
        self._record_traffic(self.records_traffic())
        current = self.proxy.backends
        if found is not None and current is not None and tuple(current.addresses) == found[1]:
            return self._describe_routes()
        if found is not None and current is None:  # serving again: quiet starts over
            self.clock.restart(time.monotonic())
        old = self.proxy.switch(Backends(*found) if found else None)
        for ports, backends in list(self._retired.items()):  # nothing left to wait for
            if backends.in_flight == 0:
                backends.close()
                del self._retired[ports]
        if old is not None:
            self._retired[tuple(old.ports)] = old
            log.info("%s: routing to %s", self.environment, label(found[0]) if found else "nothing")
        return self._describe_routes()

    async def drain(self, ports: tuple[int, ...], timeout: float) -> Answer:
        backends = self._retired.get(ports)
        if backends is None:
            return {"ok": True, "drained": True, "in_flight": 0}
        drained = await backends.drain(timeout)
        backends.close()
        self._retired.pop(ports, None)
        return {"ok": True, "drained": drained, "in_flight": backends.in_flight}

    def in_flight(self) -> int:
        """Requests in flight, to the serving release and to those switched away from."""
        backends = [self.proxy.backends, *self._retired.values()]
        return sum(b.in_flight for b in backends if b is not None)

    def idle_for(self) -> float:
        """Seconds since this front last saw a request (``idle.IdleClock``)."""
        return self.clock.look(self.proxy.requests, self.in_flight(), time.monotonic())

    def sleep(self, after: float) -> Answer:
        """Scale to zero if still quiet for ``after`` seconds: route to nothing (reload,
        proxied.json says idle). One step of the event loop: no request slips in."""
        if self.idle_for() < after or self.in_flight():
            return {"ok": True, "asleep": False}
        self.reload()
        return {"ok": True, "asleep": self.proxy.backends is None}

    def _record_traffic(self, on: bool) -> None:
        if on and self._recorder is None:
            self._recorder = Recorder(self._vocabulary())
        self.proxy.recorder = self._recorder if on else None

    def _vocabulary(self) -> Vocabulary:
        """What the environment recorded in the last ``LEARN_DAYS`` days, learned."""
        vocabulary = Vocabulary()
        now = datetime.now(UTC)
        try:
            vocabulary.learn(self.traffic.routes(now - timedelta(days=LEARN_DAYS), now))
        except OSError as exc:
            log.warning("%s: cannot read the traffic profile: %s", self.environment, exc)
        return vocabulary

    def take_traffic(self, *, partial: bool) -> list[MinuteRecord]:
        """The ended minutes of traffic (and with ``partial``, the current one so far):
        taken in the event loop's thread, which is the one that records."""
        return self._recorder.take(partial=partial) if self._recorder else []

    def write_traffic(self, records: list[MinuteRecord]) -> int:
        """Append ``records`` to the environment's traffic files (any thread); returns how
        many were written."""
        if not records:
            return 0
        try:
            return self.traffic.append(records)
        except OSError as exc:
            log.warning("%s: cannot write the traffic profile: %s", self.environment, exc)
            return 0

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await asyncio.to_thread(self.write_traffic, self.take_traffic(partial=False))

    def ping(self) -> Answer:
        return {
            **self._describe_routes(),
            "pid": os.getpid(),
            "port": self.proxy.port,
            "requests": self.proxy.requests,
            "connections": self.proxy.connections,
            "refused": self.proxy.refused.total,
            "idle_for": round(self.idle_for(), 3),
            "in_flight": self.in_flight(),
            "asleep": self.proxy.waker is not None,
            "wakes": self.waker.wakes,
        }

    def _describe_routes(self) -> Answer:
        backends = self.proxy.backends
        return {
            "ok": True,
            "release": backends.release if backends else None,
            "ports": list(backends.ports) if backends else [],
        }

    # -- the control socket --------------------------------------------------------------

    async def serve(self) -> None:
        """Take orders until SIGTERM/SIGINT; then close the port."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._done.set)
        path = self.paths.front_socket(self.environment)
        path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._order, path=str(path), limit=ORDER_LIMIT)
        os.chmod(path, 0o600)
        ours = path.stat().st_ino  # a front started after us may have replaced it
        log.info("%s: front %d serving port %d", self.environment, os.getpid(), self.proxy.port)
        flusher = asyncio.create_task(self._flush_loop(), name="traffic flush")
        try:
            await self._done.wait()
        finally:
            flusher.cancel()
            server.close()
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_ino == ours:
                    path.unlink()
            await self.waker.close()
            await self.proxy.close()
            await asyncio.gather(flusher, return_exceptions=True)
            self.write_traffic(self.take_traffic(partial=True))
            log.info("%s: front %d exiting", self.environment, os.getpid())

    async def _order(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            answer = await self._dispatch(line)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, line: bytes) -> Answer:
        try:
            order = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "order is not valid JSON"}
        if not isinstance(order, dict):
            return {"ok": False, "error": "order must be a JSON object"}
        handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Answer]]] = {
            "ping": self._op_ping,
            "reload": self._op_reload,
            "drain": self._op_drain,
            "sleep": self._op_sleep,
            "flush": self._op_flush,
        }
        handler = handlers.get(str(order.get("op")))
        if handler is None:
            return {"ok": False, "error": f"unknown op {order.get('op')!r}"}
        try:
            return await handler(order)
        except AgentError as exc:
            return {"ok": False, "error": str(exc)}

    async def _op_ping(self, order: dict[str, Any]) -> Answer:
        return self.ping()

    async def _op_reload(self, order: dict[str, Any]) -> Answer:
        return self.reload()

    async def _op_sleep(self, order: dict[str, Any]) -> Answer:
        after = order.get("after")
        if not isinstance(after, int | float) or isinstance(after, bool) or after <= 0:
            return {"ok": False, "error": "field 'after' must be a positive number"}
        return self.sleep(float(after))

    async def _op_flush(self, order: dict[str, Any]) -> Answer:
        written = await asyncio.to_thread(self.write_traffic, self.take_traffic(partial=True))
        return {"ok": True, "written": written}

    async def _op_drain(self, order: dict[str, Any]) -> Answer:
        ports, timeout = order.get("ports"), order.get("timeout")
        if not isinstance(ports, list) or not all(isinstance(p, int) for p in ports):
            return {"ok": False, "error": "field 'ports' must list ports"}
        if not isinstance(timeout, int | float) or timeout < 0:
            return {"ok": False, "error": "field 'timeout' must be a non-negative number"}
        return await self.drain(tuple(ports), float(timeout))


def flush(paths: AgentPaths, environment: str, timeout: float = 10.0) -> bool:
    """Ask ``environment``'s front (the one taking orders under ``paths``) to write the
    traffic it holds now, the minute in progress included, so a profile read next has the
    last seconds; False when no front answered (none runs there)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(paths.front_socket(environment)))
            sock.sendall(json.dumps({"op": "flush"}).encode() + b"\n")
            with sock.makefile("rb") as answer:
                reply = json.loads(answer.readline() or b"{}")
    except (OSError, ValueError):
        return False
    return isinstance(reply, dict) and bool(reply.get("ok"))


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


async def run_front(
    paths: AgentPaths, environment: str, host: str, port: int, traffic: Path | None = None
) -> int:
    proxy = Proxy(host, port)
    try:
        await proxy.start()
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_LISTEN
    front = Front(paths, environment, proxy, traffic)
    try:
        front.reload()
    except AgentError as exc:  # a damaged state file: serve 503 until the agent re-routes
        log.error("%s: %s", environment, exc)
    await front.serve()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stageline.agent.front", description=__doc__)
    parser.add_argument("--home", type=Path, required=True, help="the .stageline folder")
    parser.add_argument("--environment", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--traffic", type=Path, help="the traffic profile's folder (default: envs/<env>/traffic)"
    )
    args = parser.parse_args(argv)
    paths = AgentPaths(args.home.resolve())
    log_to(paths.front_log(args.environment))
    limit = raise_open_file_limit()
    log.info("%s: open-file limit %d", args.environment, limit)
    return asyncio.run(run_front(paths, args.environment, args.host, args.port, args.traffic))


if __name__ == "__main__":
    sys.exit(main())
