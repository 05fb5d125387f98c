"""The per-environment HTTP/1.1 reverse proxy that fronts an environment's public port.

It runs in the environment's own front process (``front.py``), never in the agent, and
parses nothing by hand: both sides speak through ``h11``. Routing is decided **per
request**: each request reads the proxy's current :class:`Backends` (one reference), so
a keep-alive client connection moves to the new release at its next request, while a
request already in flight finishes where it started. A switch is one reference swap
(:meth:`Proxy.switch`); the old ``Backends`` counts its requests in flight so the front
can drain it.

A release's processes are addresses, ``(host, port)``: ``127.0.0.1`` and a port for the
``local`` target's copies, a node's address and a task's slot port on a swarm.
Bodies stream both ways (content-length, chunked, or close-delimited responses), never
buffered whole. Upstream connections are kept alive and pooled per backend process.
``X-Forwarded-For`` and ``Forwarded`` get the client's address appended and
``X-Forwarded-Proto`` is set when absent. Upgrades (websockets) are not supported.
A request that finds no release answers 503 with ``Retry-After``; while the environment
is scaled to zero it first awaits ``Proxy.waker`` (``idle.py``).
When the environment records its traffic profile, each relayed request ends with one
call to its :class:`~stageline.traffic.recorder.Recorder` (in memory; no I/O).

Isolation (:class:`Limits`): at most ``max_connections`` client connections at a time
(more are accepted and closed at once), new connections accepted at most
``accept_rate`` per second (a token bucket; the rest wait in the kernel's queue), a
request head must arrive within ``header_timeout`` seconds, a keep-alive connection
idle for ``idle_timeout`` seconds is closed. Refusals are logged at most once per
``REFUSAL_LOG_INTERVAL`` seconds, as a count, so a flood cannot grow the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import h11

from stageline.agent.release import LOOPBACK, Address
from stageline.traffic.recorder import Exchange, Recorder

log = logging.getLogger("stageline.agent.proxy")

READ_SIZE = 64 * 1024
POOL_IDLE_MAX = 2.0  # seconds; servers close idle keep-alive connections (uvicorn: 5 s)
POOL_SIZE = 32  # idle connections kept per backend process
LISTEN_BACKLOG = 1024
REFUSAL_LOG_INTERVAL = 10.0
RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: a refusal costs no TIME_WAIT
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
RETRY_AFTER = b"5"  # seconds, on every 503: no release serves (yet)


@dataclass(frozen=True)
class Limits:
    """How much of the host one environment's proxy may take (see the module docstring)."""

    max_connections: int = 1024
    header_timeout: float = 10.0
    idle_timeout: float = 60.0
    accept_rate: float = 1000.0  # new connections per second, sustained
    accept_burst: int = 200


#: how far a token count may fall short of a whole token through rounding alone
_EPSILON = 1e-9


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; ``wait`` says how long until one."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds to wait before asking again."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1 - _EPSILON:  # time sums round: 0.1 s at 10/s may be 0.9999999
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self.rate


class CountedLog:
    """Counts events and logs them at most once per ``interval`` seconds, with the count:
    the first after a quiet interval at once, the rest with the next one after the
    interval (or at ``flush``, when the proxy closes)."""

    def __init__(self, message: str, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self.message, self.interval = message, interval
        self.count = 0
        self.total = 0
        self._since = time.monotonic()

    def note(self, now: float) -> None:
        self.count += 1
        self.total += 1
        if now - self._since >= self.interval:
            self.flush(now)

    def flush(self, now: float) -> None:
        if self.count:
            log.warning(self.message, self.count, now - self._since)
        self.count, self._since = 0, now


class UpstreamFailed(Exception):
    """The backend could not be reached, or broke the exchange before answering."""


class Upstream:
    """One keep-alive connection to a backend process."""

    def __init__(
        self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.address = address
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
    """The processes of one release, as the proxy routes to them (round-robin): each an
    address, or a port alone (on ``LOOPBACK``)."""

    def __init__(self, release: str, addresses: Iterable[Address | int]) -> None:
        self.release = release
        self.addresses: list[Address] = [
            (LOOPBACK, a) if isinstance(a, int) else (a[0], a[1]) for a in addresses
        ]
        self.in_flight = 0
        self._turn = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pools: dict[Address, list[Upstream]] = {a: [] for a in self.addresses}
        self.closed = False

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.addresses]

    def order(self) -> list[Address]:
        """The addresses to try for the next request: round-robin start, then the others."""
        start = self._turn % len(self.addresses)
        self._turn += 1
        return self.addresses[start:] + self.addresses[:start]

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

    async def connect(self, address: Address, *, fresh: bool) -> Upstream:
        pool = self._pools.setdefault(address, [])
        now = time.monotonic()
        while pool and not fresh:
            upstream = pool.pop()
            if now - upstream.last_used < POOL_IDLE_MAX and not upstream.reader.at_eof():
                upstream.reused = True
                return upstream
            upstream.close()
        try:
            reader, writer = await asyncio.open_connection(*address)
        except OSError as exc:
            raise UpstreamFailed(f"cannot connect to {_shown(address)}: {exc}") from exc
        return Upstream(address, reader, writer)

    def give_back(self, upstream: Upstream) -> None:
        pool = self._pools.setdefault(upstream.address, [])
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

    def __init__(self, host: str, port: int, limits: Limits | None = None) -> None:
        self.host, self.port = host, port
        self.limits = limits or Limits()
        self.backends: Backends | None = None
        #: set while the environment is scaled to zero (``idle.py``): a request that finds
        #: no backends awaits it for the release started again (None: not in time)
        self.waker: Callable[[], Awaitable[Backends | None]] | None = None
        #: the traffic recorder, when this environment records its traffic profile
        self.recorder: Recorder | None = None
        self._sock: socket.socket | None = None
        self._acceptor: asyncio.Task[None] | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.refused = CountedLog(
            f"proxy {port}: refused %d connection(s) in the last %.0fs "
            f"(at its cap of {self.limits.max_connections} connections)"
        )

    async def start(self) -> None:
        """Listen (OSError if the port is taken) and start accepting."""
        family = socket.AF_INET6 if ipaddress.ip_address(self.host).version == 6 else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on an accepted connection only when
        # its socket says it is TCP; without it Nagle + delayed ACK add ~40 ms to every
        # keep-alive request whose answer goes out in more than one write (cli/serve.py)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._acceptor = asyncio.create_task(self._accept_loop(sock), name=f"accept {self.port}")

    @property
    def connections(self) -> int:
        return len(self._clients)

    def switch(self, backends: Backends | None) -> Backends | None:
        """Send new requests to ``backends`` from now on; returns the ones replaced."""
        old, self.backends = self.backends, backends
        return old

    def route(self, request: h11.Request) -> Backends | None:
        """Where ``request`` goes: the current backends (``router.py`` chooses by Host)."""
        return self.backends

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
            await asyncio.gather(self._acceptor, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        self.refused.flush(time.monotonic())
        if self.backends is not None:
            self.backends.close()

    async def _accept_loop(self, sock: socket.socket) -> None:
        """Accept within the budget; over the connection cap, close at once (counted)."""
        loop = asyncio.get_running_loop()
        bucket = TokenBucket(self.limits.accept_rate, self.limits.accept_burst)
        while True:
            wait = bucket.take(time.monotonic())
            if wait:
                await asyncio.sleep(wait)
                continue
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # EMFILE and friends: back off instead of spinning
                self.refused.note(time.monotonic())
                log.debug("proxy %d: accept failed: %s", self.port, exc)
                await asyncio.sleep(0.1)
                continue
            if len(self._clients) >= self.limits.max_connections:
                self.refused.note(time.monotonic())
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
                conn.close()
                continue
            task = asyncio.create_task(self._serve_socket(conn))
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)

    async def _serve_socket(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn, limit=READ_SIZE)
        except OSError:
            conn.close()
            return
        await self._serve(reader, writer)

    # -- one client connection -----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "unknown"
        conn = h11.Connection(h11.SERVER)
        first = True
        try:
            while True:
                event = await self._read_head(conn, reader, first=first)
                if not isinstance(event, h11.Request):
                    break
                await self._forward(conn, event, reader, writer, client)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
                first = False
        except h11.RemoteProtocolError:
            with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    writer.write(_simple(conn, 400, b"bad request\n"))
        except (ConnectionError, asyncio.IncompleteReadError, UpstreamFailed, TimeoutError):
            pass  # a timeout: the head was too slow, or the connection idled too long
        except h11.LocalProtocolError as exc:
            log.warning("proxy %d: %s", self.port, exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_head(
        self, conn: h11.Connection, reader: asyncio.StreamReader, *, first: bool
    ) -> h11.Event:
        """The next request's head: a keep-alive connection may idle ``idle_timeout``
        seconds before it starts; once started (or on a new connection) the whole head
        must arrive within ``header_timeout``. TimeoutError otherwise."""
        if not first:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return _as_event(event)
            async with asyncio.timeout(self.limits.idle_timeout):
                conn.receive_data(await reader.read(READ_SIZE))
        async with asyncio.timeout(self.limits.header_timeout):
            return await _next_client_event(conn, reader)

    async def _forward(
        self,
        conn: h11.Connection,
        request: h11.Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
    ) -> None:
        backends = self.route(request)  # read once: this request stays with this release
        unavailable = b"no release is serving\n"
        if (backends is None or not backends.addresses) and self.waker is not None:
            backends = await self.waker()
            unavailable = b"the environment was idle and did not start in time; retry\n"
        if backends is None or not backends.addresses:
            await _drain_request(conn, reader)
            writer.write(_simple(conn, 503, unavailable, retry_after=True))
            return
        self.requests += 1
        backends.begin()
        exchange = Exchange()
        try:
            first = await _next_client_event(conn, reader)
            upstream = await self._send_request(
                backends, request, first, client, conn, reader, exchange
            )
            await self._relay_response(backends, upstream, conn, writer, exchange)
        except UpstreamFailed as exc:
            log.info("proxy %d: %s", self.port, exc)
            if conn.our_state is h11.SEND_RESPONSE:
                # the rest of a request body is not worth reading: close after answering
                conn_close = conn.their_state is h11.SEND_BODY
                writer.write(_simple(conn, 502, b"bad gateway\n", close=conn_close))
                exchange.status = 502
            else:
                raise
        finally:
            in_flight = backends.in_flight
            backends.end()
            if self.recorder is not None:
                self.recorder.record(request.method, request.target, exchange, in_flight)

    async def _send_request(
        self,
        backends: Backends,
        request: h11.Request,
        first: h11.Event,
        client: str,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        exchange: Exchange,
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
                    exchange.request_bytes += len(event.data)
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
                retry = await backends.connect(upstream.address, fresh=True)
                try:
                    await retry.send(outgoing)
                    await retry.send(h11.EndOfMessage())
                    await _peek_response(retry)
                except (ConnectionError, h11.RemoteProtocolError) as again:
                    retry.close()
                    why = f"backend {_shown(retry.address)} failed: {again!r}"
                    raise UpstreamFailed(why) from again
                return retry
            if isinstance(exc, UpstreamFailed):
                raise
            raise UpstreamFailed(f"backend {_shown(upstream.address)} failed: {exc!r}") from exc

    async def _relay_response(
        self,
        backends: Backends,
        upstream: Upstream,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        exchange: Exchange,
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
                    exchange.status = event.status_code
                elif isinstance(event, h11.Data):
                    out = h11.Data(data=event.data)
                    exchange.response_bytes += len(event.data)
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
                raise UpstreamFailed(f"backend {_shown(upstream.address)} failed: {exc!r}") from exc
            raise ConnectionError("the response broke off") from exc  # the client sees a cut
        backends.give_back(upstream)


def _shown(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _connect_any(backends: Backends) -> Upstream:
    last: UpstreamFailed | None = None
    for address in backends.order():
        try:
            return await backends.connect(address, fresh=False)
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


def _as_event(event: object) -> h11.Event:
    if event is h11.PAUSED:
        return h11.ConnectionClosed()
    assert isinstance(event, h11.Event)
    return event


async def _drain_request(conn: h11.Connection, reader: asyncio.StreamReader) -> None:
    while conn.their_state is h11.SEND_BODY:
        event = await _next_client_event(conn, reader)
        if isinstance(event, h11.ConnectionClosed):
            return


def _simple(
    conn: h11.Connection,
    status: int,
    body: bytes,
    *,
    close: bool = False,
    retry_after: bool = False,
) -> bytes:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after:
        headers.append((b"retry-after", RETRY_AFTER))
    data = conn.send(h11.Response(status_code=status, headers=headers))
    data = (data or b"") + (conn.send(h11.Data(data=body)) or b"")
    return data + (conn.send(h11.EndOfMessage()) or b"")
