"""The per-environment HTTP/1.1 reverse proxy that fronts an environment's public port.

It runs in the agent's asyncio loop and parses nothing by hand: both sides speak through
``h11``. Routing is decided **per request**: each request reads the proxy's current
:class:`Backends` (one reference), so a keep-alive client connection moves to the new
release at its next request, while a request already in flight finishes where it
started. A switch is one reference swap (:meth:`Proxy.switch`); the old ``Backends``
counts its requests in flight so the caller can drain it.

Bodies stream both ways (content-length, chunked, or close-delimited responses), never
buffered whole. Upstream connections are kept alive and pooled per backend process.
``X-Forwarded-For`` and ``Forwarded`` get the client's address appended and
``X-Forwarded-Proto`` is set when absent. Upgrades (websockets) are not supported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable

import h11

log = logging.getLogger("stageline.agent.proxy")

READ_SIZE = 64 * 1024
POOL_IDLE_MAX = 2.0  # seconds; servers close idle keep-alive connections (uvicorn: 5 s)
POOL_SIZE = 32  # idle connections kept per backend process
CLIENT_IDLE_TIMEOUT = 300.0
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
    }
)
Headers = list[tuple[bytes, bytes]]


class UpstreamFailed(Exception):
    """The backend could not be reached, or broke the exchange before answering."""


class Upstream:
    """One keep-alive connection to a backend process."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.port = port
        self.reader, self.writer = reader, writer
        self.conn = h11.Connection(h11.CLIENT)
        self.last_used = time.monotonic()
        self.reused = False

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(READ_SIZE))
                continue
            assert isinstance(event, h11.Event)  # h11.PAUSED cannot happen on a client
            return event

    def reusable(self) -> bool:
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def close(self) -> None:
        self.writer.close()


class Backends:
    """The processes of one release, as the proxy routes to them (round-robin)."""

    def __init__(self, release: str, ports: Iterable[int]) -> None:
        self.release = release
        self.ports = list(ports)
        self.in_flight = 0
        self._turn = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pools: dict[int, list[Upstream]] = {port: [] for port in self.ports}
        self.closed = False

    def order(self) -> list[int]:
        """The ports to try for the next request: round-robin start, then the others."""
        start = self._turn % len(self.ports)
        self._turn += 1
        return self.ports[start:] + self.ports[:start]

    def begin(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def end(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight here (True), or ``timeout`` seconds (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        return self.in_flight == 0

    async def connect(self, port: int, *, fresh: bool) -> Upstream:
        pool = self._pools.setdefault(port, [])
        now = time.monotonic()
        while pool and not fresh:
            upstream = pool.pop()
            if now - upstream.last_used < POOL_IDLE_MAX and not upstream.reader.at_eof():
                upstream.reused = True
                return upstream
            upstream.close()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            raise UpstreamFailed(f"cannot connect to 127.0.0.1:{port}: {exc}") from exc
        return Upstream(port, reader, writer)

    def give_back(self, upstream: Upstream) -> None:
        pool = self._pools.setdefault(upstream.port, [])
        if self.closed or not upstream.reusable() or len(pool) >= POOL_SIZE:
            upstream.close()
            return
        upstream.conn.start_next_cycle()
        upstream.last_used = time.monotonic()
        pool.append(upstream)

    def close(self) -> None:
        """Close the idle pooled connections; connections in use close when they finish."""
        self.closed = True
        for pool in self._pools.values():
            for upstream in pool:
                upstream.close()
            pool.clear()


def forwarded_headers(headers: Iterable[tuple[bytes, bytes]], client: str) -> Headers:
    """The request's headers for the backend: hop-by-hop ones dropped, the client's
    address appended to ``X-Forwarded-For`` and ``Forwarded``, the scheme set."""
    out: Headers = []
    xff: list[bytes] = []
    fwd: list[bytes] = []
    proto = False
    dropped = set(HOP_BY_HOP)
    for name, value in headers:
        if name == b"connection":
            dropped.update(token.strip().lower() for token in value.split(b","))
    for name, value in headers:
        if name in dropped:
            continue
        if name == b"x-forwarded-for":
            xff.append(value)
        elif name == b"forwarded":
            fwd.append(value)
        else:
            proto = proto or name == b"x-forwarded-proto"
            out.append((name, value))
    node = client.encode()
    quoted = b'"[' + node + b']"' if b":" in node else node
    out.append((b"x-forwarded-for", b", ".join([*xff, node])))
    out.append((b"forwarded", b", ".join([*fwd, b"for=" + quoted])))
    if not proto:
        out.append((b"x-forwarded-proto", b"http"))
    return out


def response_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    dropped = set(HOP_BY_HOP)
    for name, value in headers:
        if name == b"connection":
            dropped.update(token.strip().lower() for token in value.split(b","))
    return [(name, value) for name, value in headers if name not in dropped]


class Proxy:
    """Serves ``host:port`` and forwards every request to the current :class:`Backends`."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.backends: Backends | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.requests = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True, limit=READ_SIZE
        )

    def switch(self, backends: Backends) -> Backends | None:
        """Send new requests to ``backends`` from now on; returns the ones replaced."""
        old, self.backends = self.backends, backends
        return old

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if self.backends is not None:
            self.backends.close()

    # -- one client connection -----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "unknown"
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                async with asyncio.timeout(CLIENT_IDLE_TIMEOUT):
                    event = await _next_client_event(conn, reader)
                if not isinstance(event, h11.Request):
                    break
                await self._forward(conn, event, reader, writer, client)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (h11.RemoteProtocolError, TimeoutError):
            with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    writer.write(_simple(conn, 400, b"bad request\n"))
        except (ConnectionError, asyncio.IncompleteReadError, UpstreamFailed):
            pass
        except h11.LocalProtocolError as exc:
            log.warning("proxy %d: %s", self.port, exc)
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
    ) -> None:
        backends = self.backends  # read once: this request stays with this release
        if backends is None or not backends.ports:
            await _drain_request(conn, reader)
            writer.write(_simple(conn, 503, b"no release is serving\n"))
            return
        self.requests += 1
        backends.begin()
        try:
            first = await _next_client_event(conn, reader)
            upstream = await self._send_request(backends, request, first, client, conn, reader)
            await self._relay_response(backends, upstream, conn, writer)
        except UpstreamFailed as exc:
            log.info("proxy %d: %s", self.port, exc)
            if conn.our_state is h11.SEND_RESPONSE:
                # the rest of a request body is not worth reading: close after answering
                conn_close = conn.their_state is h11.SEND_BODY
                writer.write(_simple(conn, 502, b"bad gateway\n", close=conn_close))
            else:
                raise
        finally:
            backends.end()

    async def _send_request(
        self,
        backends: Backends,
        request: h11.Request,
        first: h11.Event,
        client: str,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
    ) -> Upstream:
        """Connect (pooled, round-robin; a refused connection tries the next process) and
        send the request, streaming its body. A request without a body is retried once on
        a fresh connection if a pooled one turns out to be closed."""
        outgoing = h11.Request(
            method=request.method,
            target=request.target,
            headers=forwarded_headers(request.headers, client),
        )
        bodyless = isinstance(first, h11.EndOfMessage)
        upstream = await _connect_any(backends)
        try:
            await upstream.send(outgoing)
            event = first
            while not isinstance(event, h11.EndOfMessage):
                if isinstance(event, h11.Data):
                    await upstream.send(h11.Data(data=event.data))
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionError("the client went away mid-request")
                event = await _next_client_event(conn, reader)
            await upstream.send(h11.EndOfMessage())
            if bodyless:
                await _peek_response(upstream)
            return upstream
        except (ConnectionError, h11.RemoteProtocolError, UpstreamFailed) as exc:
            upstream.close()
            if bodyless and upstream.reused:
                retry = await backends.connect(upstream.port, fresh=True)
                try:
                    await retry.send(outgoing)
                    await retry.send(h11.EndOfMessage())
                    await _peek_response(retry)
                except (ConnectionError, h11.RemoteProtocolError) as again:
                    retry.close()
                    raise UpstreamFailed(f"backend {retry.port} failed: {again!r}") from again
                return retry
            if isinstance(exc, UpstreamFailed):
                raise
            raise UpstreamFailed(f"backend {upstream.port} failed: {exc!r}") from exc

    async def _relay_response(
        self,
        backends: Backends,
        upstream: Upstream,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
    ) -> None:
        started = False
        try:
            while True:
                event = await upstream.next_event()
                if isinstance(event, h11.InformationalResponse | h11.Response):
                    out: h11.Event = type(event)(
                        status_code=event.status_code,
                        headers=response_headers(event.headers),
                        reason=event.reason,
                    )
                    started = started or isinstance(event, h11.Response)
                elif isinstance(event, h11.Data):
                    out = h11.Data(data=event.data)
                elif isinstance(event, h11.EndOfMessage):
                    out = h11.EndOfMessage()
                else:  # ConnectionClosed before the response ended
                    raise ConnectionError("the backend closed the connection mid-response")
                data = conn.send(out)
                if data:
                    writer.write(data)
                    await writer.drain()
                if isinstance(event, h11.EndOfMessage):
                    break
        except (ConnectionError, h11.RemoteProtocolError) as exc:
            upstream.close()
            if not started:
                raise UpstreamFailed(f"backend {upstream.port} failed: {exc!r}") from exc
            raise ConnectionError("the response broke off") from exc  # the client sees a cut
        backends.give_back(upstream)


async def _connect_any(backends: Backends) -> Upstream:
    last: UpstreamFailed | None = None
    for port in backends.order():
        try:
            return await backends.connect(port, fresh=False)
        except UpstreamFailed as exc:
            last = exc
    assert last is not None
    raise last


async def _peek_response(upstream: Upstream) -> None:
    """Make sure a reused connection answers: wait for the first bytes of the response."""
    if upstream.conn.trailing_data[0] or not upstream.reused:
        return
    data = await upstream.reader.read(READ_SIZE)
    if not data:
        raise ConnectionError("the pooled connection was closed by the backend")
    upstream.conn.receive_data(data)


async def _next_client_event(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
            continue
        if event is h11.PAUSED:
            return h11.ConnectionClosed()
        assert isinstance(event, h11.Event)
        return event


async def _drain_request(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    while conn.their_state is h11.SEND_BODY:
        event = await _next_client_event(conn, reader)
        if isinstance(event, h11.ConnectionClosed):
            return


def _simple(conn: h11.Connection, status: int, body: bytes, *, close: bool = False) -> bytes:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    data = conn.send(h11.Response(status_code=status, headers=headers))
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
    return data + (conn.send(h11.EndOfMessage()) or b"")
