"""The proxy's side of the traffic profile: one call per request, no I/O.

The proxy calls :meth:`Recorder.record` once per answered request with what it already
knows: the method and target of the request line, the status it sent, how long the
exchange took, the body bytes each way and the requests in flight. Only the route
(:func:`~stageline.traffic.profile.normalize`, folded by the
:class:`~stageline.traffic.vocabulary.Vocabulary`) and those numbers are kept; the raw
target is used only as a key of an in-memory cache and is never written anywhere.

Counts go into the current minute's :class:`~stageline.traffic.minutes.MinuteRecord`;
per-second counts exist only to know the minute's peak second (a 60-slot array, reset
each minute). The front's timer calls :meth:`Recorder.take` and hands what it gets to
the store in a worker thread.

``in_flight`` sampled as each request ends gives the true maximum concurrency: at the
moment the most requests were in flight, the first of them to end still sees them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stageline.traffic.minutes import MinuteRecord, RouteTally, bucket
from stageline.traffic.profile import normalize
from stageline.traffic.vocabulary import Vocabulary

log = logging.getLogger("stageline.traffic")

#: distinct (method, path) pairs whose route is cached before the cache starts over
CACHE_SIZE = 4096


@dataclass(slots=True)
class Exchange:
    """What the proxy learns of one request as it relays it: the status it sent (0: none
    yet), the body bytes each way, and when the request's head was read."""

    status: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    started: float = field(default_factory=time.perf_counter)


class Recorder:
    """The traffic of one environment, in memory, by minute (see the module docstring).
    ``clock`` gives the wall time in seconds (minutes are clock minutes, UTC)."""

    def __init__(
        self, vocabulary: Vocabulary | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.vocabulary = vocabulary or Vocabulary()
        self._clock = clock
        self._cache: dict[tuple[bytes, bytes], str] = {}  # (method, path) -> route
        self._folded: dict[str, str] = {}  # normalized route -> route
        self._cache_version = self.vocabulary.version
        self._done: list[MinuteRecord] = []
        self._current = MinuteRecord(0)
        self._seconds = [0] * 60
        self.faults = 0

    def record(self, method: bytes, target: bytes, exchange: Exchange, in_flight: int) -> None:
        """Count one request the proxy has finished with: its latency runs from its head
        to now. A request that got no status (the client left first) is not counted.
        Never raises: a fault here is logged (once) and the request goes uncounted, since
        recording must never break serving."""
        if not exchange.status:
            return
        try:
            self._count(method, target, exchange, in_flight)
        except Exception:
            self.faults += 1
            if self.faults == 1:
                log.exception("traffic: a request could not be recorded (logged once)")

    def _count(self, method: bytes, target: bytes, exchange: Exchange, in_flight: int) -> None:
        seconds = time.perf_counter() - exchange.started
        now = int(self._clock())
        start = now - now % 60
        current = self._current
        if start != current.start:
            current = self._roll(start)
        current.requests += 1
        slot = now - start
        in_second = self._seconds[slot] + 1
        self._seconds[slot] = in_second
        if in_second > current.peak_second:
            current.peak_second = in_second
        if in_flight > current.max_concurrency:
            current.max_concurrency = in_flight
        route = self._route(method, target)
        tally = current.routes.get(route)
        if tally is None:
            tally = current.routes[route] = RouteTally()
        tally.count += 1
        tally.statuses[exchange.status] = tally.statuses.get(exchange.status, 0) + 1
        index = bucket(seconds * 1000)
        tally.latency[index] = tally.latency.get(index, 0) + 1
        tally.request_bytes += exchange.request_bytes
        tally.response_bytes += exchange.response_bytes

    def take(self, *, partial: bool = False) -> list[MinuteRecord]:
        """The minutes that have ended since the last call (and with ``partial``, what the
        current minute holds so far), each folded again by the vocabulary as it stands
        now; the recorder forgets them."""
        now = int(self._clock())
        if now - now % 60 != self._current.start and self._current.requests:
            self._roll(now - now % 60)
        taken, self._done = self._done, []
        if partial and self._current.requests:
            taken.append(self._current)
            running = self._current
            self._current = MinuteRecord(
                running.start, 0, running.peak_second, running.max_concurrency
            )
        return [self._refold(record) for record in taken]

    def _roll(self, start: int) -> MinuteRecord:
        if self._current.requests:
            self._done.append(self._current)
        self._current = MinuteRecord(start)
        self._seconds = [0] * 60
        return self._current

    def _route(self, method: bytes, target: bytes) -> str:
        path = target.partition(b"?")[0]
        if self.vocabulary.version != self._cache_version:
            self._cache.clear()
            self._folded.clear()
            self._cache_version = self.vocabulary.version
        route = self._cache.get((method, path))
        if route is None:
            raw = normalize(method.decode("latin-1"), path.decode("latin-1"))
            route = self._folded.get(raw)
            if route is None:
                if len(self._folded) >= CACHE_SIZE:
                    self._folded.clear()
                route = self._folded[raw] = self.vocabulary.fold(raw)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[(method, path)] = route
        return route

    def _refold(self, record: MinuteRecord) -> MinuteRecord:
        folded = MinuteRecord(
            record.start, record.requests, record.peak_second, record.max_concurrency
        )
        for route, tally in record.routes.items():
            folded.routes.setdefault(self.vocabulary.fold(route), RouteTally()).add(tally)
        return folded
