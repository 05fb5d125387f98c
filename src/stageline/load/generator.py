"""The open-loop generator: send a schedule's jobs when they are due, whatever answers.

One asyncio loop in the calling thread sends every :class:`~stageline.load.schedule.Job`
at its due time over a pool of keep-alive HTTP/1.1 connections (h11, the state machine
the proxy uses; nothing parses HTTP by hand). A job never waits for an earlier one to be
answered: when no connection is idle a new one is opened, up to ``max_connections``;
only past that cap does a job queue, and the queueing counts in its latency.

Latency is measured from the **due** time, not from when the request went out, so a
slow answer that delays later sends shows up in their latencies instead of thinning the
load (no coordinated omission, as wrk2 and k6's arrival-rate executors measure). The
generator's own health is measured too: each job's dispatch lag (how late the loop got
to it) and the CPU the generator's thread used (``time.thread_time``), so a saturated
generator is reported, never mistaken for a slow service.

Why our own: Locust's users are closed loop (a user waits for its answer before the next
task; ``constant_throughput`` paces each user, it does not keep an arrival rate when
answers slow down) and it needs gevent's monkey-patching in the gate's process. The
ceiling and latency of this generator beside ``wrk`` on the same host are in
``bench/load.py`` (docs/load.md has the figures).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import h11

from stageline.load.schedule import Call, Job

#: how long the loop waits before the first due time (connections are not pre-opened)
LEAD = 0.05


@dataclass(frozen=True)
class Sample:
    """How one job went: ``latency_ms`` from its due time to the last byte of its last
    answer; ``status`` of the last answer (0: no answer, ``error`` says why)."""

    route: str
    at: float
    lag_ms: float
    latency_ms: float
    status: int
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.status == 0 or self.status >= 500


@dataclass(frozen=True)
class Run:
    """A whole run: its samples, the wall time from the first due time to the last
    answer, the generator thread's CPU seconds, and the connections it opened."""

    samples: tuple[Sample, ...]
    seconds: float
    cpu_seconds: float
    connections: int
    #: seconds the generator's thread was runnable but waited for a CPU (schedstat)
    wait_seconds: float = 0.0


class _Connection:
    """One keep-alive connection: requests go out and answers come back through h11."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.http = h11.Connection(our_role=h11.CLIENT)

    async def exchange(self, host: str, call: Call) -> int:
        """Send ``call``, read the whole answer; its status. Raises ConnectionError."""
        headers = [("Host", host), *call.headers]
        if call.body or call.method not in ("GET", "HEAD"):
            headers.append(("Content-Length", str(len(call.body))))
        data = self.http.send(h11.Request(method=call.method, target=call.path, headers=headers))
        if call.body:
            data = (data or b"") + (self.http.send(h11.Data(data=call.body)) or b"")
        data = (data or b"") + (self.http.send(h11.EndOfMessage()) or b"")
        self.writer.write(data)
        status = 0
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                self.http.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection")

    def reusable(self) -> bool:
        if self.http.our_state is h11.DONE and self.http.their_state is h11.DONE:
            self.http.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        self.writer.close()


class _Pool:
    """Idle connections; a new one when none is idle, up to ``cap``."""

    def __init__(self, host: str, port: int, cap: int) -> None:
        self.host, self.port, self.cap = host, port, cap
        self.idle: list[_Connection] = []
        self.open = 0
        self.opened = 0
        self.freed = asyncio.Condition()

    async def get(self) -> _Connection:
        async with self.freed:
            while not self.idle and self.open >= self.cap:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.open += 1
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            await self.drop(None)
            raise
        self.opened += 1
        return _Connection(reader, writer)

    async def put(self, conn: _Connection) -> None:
        async with self.freed:
            self.idle.append(conn)
            self.freed.notify()

    async def drop(self, conn: _Connection | None) -> None:
        if conn is not None:
            conn.close()
        async with self.freed:
            self.open -= 1
            self.freed.notify()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


async def _job(pool: _Pool, job: Job, due: float, lag: float, timeout: float) -> Sample:
    loop = asyncio.get_running_loop()
    status, error = 0, ""
    conn: _Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            conn = await pool.get()
            for call in job.calls:
                status = await conn.exchange(f"{pool.host}:{pool.port}", call)
    except TimeoutError:
        status, error = 0, f"no answer within {timeout:g}s"
    except (OSError, h11.ProtocolError) as exc:
        status, error = 0, str(exc) or type(exc).__name__
    if conn is not None:
        if not error and conn.reusable():
            await pool.put(conn)
        else:
            await pool.drop(conn)
    latency = (loop.time() - due) * 1000
    return Sample(job.route, job.at, lag * 1000, latency, status, error)


async def _drive(
    host: str, port: int, jobs: Sequence[Job], max_connections: int, timeout: float
) -> Run:
    loop = asyncio.get_running_loop()
    pool = _Pool(host, port, max_connections)
    cpu, waited = time.thread_time(), _waited()
    start = loop.time() + LEAD
    tasks = []
    for number, job in enumerate(jobs):
        due = start + job.at
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif number % 32 == 0:
            await asyncio.sleep(0)  # behind schedule: still let answers in
        tasks.append(loop.create_task(_job(pool, job, due, loop.time() - due, timeout)))
    samples = await asyncio.gather(*tasks)
    seconds = loop.time() - start
    pool.close()
    return Run(tuple(samples), seconds, time.thread_time() - cpu, pool.opened, _waited() - waited)


def _waited() -> float:
    """Seconds this thread has waited for a CPU while runnable (0 without schedstat)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def drive(
    host: str,
    port: int,
    jobs: Sequence[Job],
    *,
    max_connections: int = 256,
    timeout: float = 10.0,
) -> Run:
    """Send ``jobs`` to ``host:port`` on schedule (see the module docstring); returns when
    every job is answered or timed out (``timeout`` seconds from its due time)."""
    return asyncio.run(_drive(host, port, jobs, max_connections, timeout))
