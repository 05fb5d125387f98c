"""What the recorder keeps of one minute, how the store writes it, and how minutes add up
to a :class:`~stageline.traffic.profile.TrafficProfile` (pure).

One :class:`MinuteRecord` is one line of the store. A minute may be written in parts (a
front that restarts, or is asked to flush early): parts of the same minute **add up** on
reading (counts, statuses, latency buckets, byte sums), except the minute's peak second
and its concurrency, which each part carries as the running maximum of the whole minute
so far, so the reader takes their maximum.

Latencies are kept as a sparse log-scale histogram (:func:`bucket`): bucket ``b`` holds
latencies up to ``BASE_MS * GROWTH**b``, so a percentile read from it is at most 5% above
the true one, and a minute of any traffic costs a few dozen numbers per route.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stageline.traffic.profile import Minute, RouteStats, TrafficProfile, split_route

BASE_MS = 0.01
GROWTH = 1.05
_LOG_GROWTH = math.log(GROWTH)


def bucket(ms: float) -> int:
    """The histogram bucket of a latency of ``ms`` milliseconds (0 for anything up to
    ``BASE_MS``)."""
    if ms <= BASE_MS:
        return 0
    return math.ceil(math.log(ms / BASE_MS) / _LOG_GROWTH - 1e-9)


def bucket_ms(index: int) -> float:
    """The upper bound of bucket ``index``, in milliseconds."""
    return BASE_MS * GROWTH**index


def percentile(histogram: dict[int, int], q: float) -> float:
    """The ``q`` quantile (0 < q <= 1) of a latency histogram, as its bucket's upper
    bound; 0.0 for an empty one."""
    total = sum(histogram.values())
    if not total:
        return 0.0
    rank = math.ceil(q * total)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return round(bucket_ms(index), 3)
    return round(bucket_ms(max(histogram)), 3)  # pragma: no cover - rank <= total


@dataclass
class RouteTally:
    """One route in one minute: requests, statuses, latency buckets, body bytes."""

    count: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latency: dict[int, int] = field(default_factory=dict)
    request_bytes: int = 0
    response_bytes: int = 0

    def add(self, other: RouteTally) -> None:
        self.count += other.count
        self.request_bytes += other.request_bytes
        self.response_bytes += other.response_bytes
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for index, n in other.latency.items():
            self.latency[index] = self.latency.get(index, 0) + n


@dataclass
class MinuteRecord:
    """One minute (or part of one) as recorded: ``start`` in whole seconds since the
    epoch, on the minute; ``peak_second`` and ``max_concurrency`` are the whole minute's
    so far."""

    start: int
    requests: int = 0
    peak_second: int = 0
    max_concurrency: int = 0
    routes: dict[str, RouteTally] = field(default_factory=dict)

    def add(self, other: MinuteRecord) -> None:
        """Another part of the same minute (see the module docstring)."""
        self.requests += other.requests
        self.peak_second = max(self.peak_second, other.peak_second)
        self.max_concurrency = max(self.max_concurrency, other.max_concurrency)
        for route, tally in other.routes.items():
            self.routes.setdefault(route, RouteTally()).add(tally)

    def to_json(self) -> dict[str, Any]:
        """The store's line for this record (short keys: it is written every minute)."""
        return {
            "t": self.start,
            "n": self.requests,
            "p": self.peak_second,
            "c": self.max_concurrency,
            "r": {
                route: {
                    "n": t.count,
                    "s": {str(k): v for k, v in t.statuses.items()},
                    "l": {str(k): v for k, v in t.latency.items()},
                    "i": t.request_bytes,
                    "o": t.response_bytes,
                }
                for route, t in self.routes.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MinuteRecord:
        """A record :meth:`to_json` wrote (KeyError, TypeError or ValueError otherwise)."""
        routes = {
            str(route): RouteTally(
                count=int(t["n"]),
                statuses={int(k): int(v) for k, v in t["s"].items()},
                latency={int(k): int(v) for k, v in t["l"].items()},
                request_bytes=int(t["i"]),
                response_bytes=int(t["o"]),
            )
            for route, t in data["r"].items()
        }
        return cls(int(data["t"]), int(data["n"]), int(data["p"]), int(data["c"]), routes)


def merge(records: list[MinuteRecord]) -> list[MinuteRecord]:
    """The parts of each minute added up (see the module docstring), oldest first."""
    minutes: dict[int, MinuteRecord] = {}
    for record in records:
        whole = minutes.setdefault(record.start, MinuteRecord(record.start))
        whole.add(record)
    return [minutes[start] for start in sorted(minutes)]


def build_profile(
    environment: str, since: datetime, until: datetime, records: list[MinuteRecord]
) -> TrafficProfile:
    """The profile of ``records`` (those of ``environment`` between ``since`` and
    ``until``; the caller picked them): routes busiest first, minutes oldest first."""
    minutes = merge(records)
    totals: dict[str, RouteTally] = {}
    for minute in minutes:
        for route, tally in minute.routes.items():
            totals.setdefault(route, RouteTally()).add(tally)
    routes = sorted(totals.items(), key=lambda item: (-item[1].count, item[0]))
    return TrafficProfile(
        environment=environment,
        since=since,
        until=until,
        routes=tuple(_route_stats(route, tally) for route, tally in routes),
        minutes=tuple(_minute(m) for m in minutes),
    )


def _route_stats(route: str, tally: RouteTally) -> RouteStats:
    method, template = split_route(route)
    count = max(tally.count, 1)
    return RouteStats(
        route=route,
        method=method,
        template=template,
        count=tally.count,
        statuses=dict(sorted(tally.statuses.items())),
        p50_ms=percentile(tally.latency, 0.50),
        p90_ms=percentile(tally.latency, 0.90),
        p99_ms=percentile(tally.latency, 0.99),
        request_bytes=round(tally.request_bytes / count, 1),
        response_bytes=round(tally.response_bytes / count, 1),
    )


def _minute(record: MinuteRecord) -> Minute:
    return Minute(
        start=datetime.fromtimestamp(record.start, UTC),
        requests=record.requests,
        peak_second=record.peak_second,
        routes={route: t.count for route, t in record.routes.items()},
        max_concurrency=record.max_concurrency,
    )
