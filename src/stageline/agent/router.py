"""The shared front of review environments: one port, each request routed by its Host.

``python -m stageline.agent.router --routes FILE --seen FILE --port P`` serves
``127.0.0.1:P`` with :class:`HostRouter`, the per-environment proxy (``proxy.py``) whose
:meth:`~stageline.agent.proxy.Proxy.route` picks the backend by the request's ``Host``
(lower-cased, port dropped) from ``FILE``: a JSON object ``{"feature-x.review.localhost":
9101, ...}``, each review environment's public port (its own front, so a blue/green
switch there is invisible here). The file is re-read when its modification time moves,
so opening or closing a review needs no order to the router. An unknown host gets 503.

The time of the last request per host is written to ``--seen`` (JSON, host -> epoch
seconds) at most every :data:`SEEN_EVERY` seconds: ``review list`` and ``review gc``
read it. The router's own start, stop and route table are ``targets/review_router.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import h11

from stageline.agent.proxy import Backends, Proxy
from stageline.agent.state import log_to

log = logging.getLogger("stageline.agent.router")
SEEN_EVERY = 5.0


def host_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's host name: its ``Host`` header, lower case, without a port."""
    for name, value in headers:
        if name.lower() == b"host":
            text = value.decode("latin-1").strip().lower()
            return text.rsplit(":", 1)[0] if not text.endswith("]") else text
    return ""


class HostRouter(Proxy):
    """A :class:`Proxy` that routes each request by its Host to a port of ``routes``."""

    def __init__(self, host: str, port: int, routes: Path, seen: Path) -> None:
        super().__init__(host, port)
        self.routes_file, self.seen_file = routes, seen
        self.table: dict[str, Backends] = {}
        self.seen: dict[str, float] = {}
        self._stamp: float | None = None

    def route(self, request: h11.Request) -> Backends | None:
        self.refresh()
        host = host_of(request.headers)
        found = self.table.get(host)
        if found is not None:
            self.seen[host] = time.time()
        return found

    def refresh(self) -> None:
        """Re-read the route table when the file changed (a damaged file keeps the last)."""
        try:
            stamp = self.routes_file.stat().st_mtime
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            wanted = json.loads(self.routes_file.read_text()) if stamp is not None else {}
        except (OSError, ValueError) as exc:
            log.error("router %d: cannot read %s: %s", self.port, self.routes_file, exc)
            return
        table: dict[str, Backends] = {}
        for host, port in wanted.items():
            kept = self.table.get(host)
            same = kept is not None and kept.ports == [int(port)]
            table[str(host)] = kept if kept is not None and same else Backends(host, [int(port)])
        for host, old in self.table.items():
            if table.get(host) is not old:
                old.close()
        self.table = table
        log.info("router %d: %d route(s)", self.port, len(table))

    def write_seen(self) -> None:
        if not self.seen:
            return
        scratch = self.seen_file.with_suffix(".new")
        scratch.write_text(json.dumps(self.seen))
        os.replace(scratch, self.seen_file)


async def run_router(router: HostRouter) -> int:
    try:
        await router.start()
    except OSError as exc:
        print(f"cannot listen on port {router.port}: {exc.strerror}", file=sys.stderr, flush=True)
        return 75
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    router.refresh()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SEEN_EVERY)
        router.write_seen()
    await router.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stageline.agent.router", description=__doc__)
    parser.add_argument("--routes", type=Path, required=True, help="host -> port (JSON)")
    parser.add_argument("--seen", type=Path, required=True, help="host -> last request")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    log_to(args.log)
    return asyncio.run(run_router(HostRouter(args.host, args.port, args.routes, args.seen)))


if __name__ == "__main__":
    sys.exit(main())
