"""An environment's traffic profile: what its requests look like, never what they carry.

Pure (standard library and :mod:`stageline.values` only): the proxy's recorder, the
store, ``stageline traffic`` and the ``load`` gate all read these types.

``normalize`` turns a request line into a **route**: the method and the path template.
The query string and fragment are dropped whole; each path segment is kept only when it
looks like a route word, otherwise it is replaced by a placeholder naming its shape:

==================================================  ===========  ======================
segment                                             becomes      e.g.
==================================================  ===========  ======================
digits only                                         ``{id}``     ``42``
a UUID (any case, with dashes)                      ``{uuid}``   ``9b2f…-…``
anything but ASCII letters, digits, ``_.~-``        ``{slug}``   ``J%C3%BCrgen``,
                                                                 ``a@b.example``
hex of 16+ digits, or a 20+ character token with    ``{hash}``   a sha, an api token
digits (letters, digits, ``_``, ``-``)
any other segment holding a digit (but ``v2``)      ``{id}``     ``ord_1234``, a date
not a route word (see below)                        ``{slug}``   ``my-trip-to-rome``,
                                                                 ``Alice``
a route word: lowercase ASCII letters, ``_``, at    itself       ``orders``,
most two ``-`` or ``.``, at most 24 characters                   ``password-reset``
==================================================  ===========  ======================

So free text (a blog post's slug, an encoded name, an address) never becomes part of a
route. What ``normalize`` cannot tell from shape alone (a one-word user name in
``/users/alice``) the recorder folds by counting: see :mod:`stageline.traffic.recorder`.

A profile's **minutes** carry each minute's request count and its busiest second, so
``peak_rps`` is the most requests seen in one second, not a minute's average.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: the placeholder for a segment the recorder folded (too many distinct values)
OTHER = "{other}"

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.~-]+$")
_DIGIT = re.compile(r"\d")
_VERSION = re.compile(r"^v\d{1,2}$")
_WORD = re.compile(r"^[a-z_]+(?:[-.][a-z_]+){0,2}$")
_WORD_MAX = 24
_METHOD = re.compile(r"^[A-Z]{1,16}$")


def segment(text: str) -> str:
    """One path segment as it appears in a route (the table in the module docstring)."""
    if text.isdigit():
        return "{id}"
    if len(text) <= _WORD_MAX and _WORD.match(text):
        return text
    if _UUID.match(text):
        return "{uuid}"
    if not _PLAIN.match(text):
        return "{slug}"
    has_digit = _DIGIT.search(text) is not None
    if (_HEX.match(text) and has_digit) or (_TOKEN.match(text) and has_digit):
        return "{hash}"
    if _VERSION.match(text):
        return text
    if has_digit:
        return "{id}"
    return "{slug}"


def template(path: str) -> str:
    """The path template of ``path``: query and fragment dropped, each segment through
    :func:`segment`; empty segments (``//``, a trailing ``/``) are kept as they are."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    if not bare.startswith("/"):
        return "/" + OTHER  # an absolute-form or asterisk target: nothing to learn from it
    return "/".join(segment(s) if s else s for s in bare.split("/"))


def normalize(method: str, path: str) -> str:
    """The route of one request: ``"GET /orders/{id}"`` for ``GET /orders/42?x=1``.
    An unusual method (not 1-16 capital letters) becomes ``OTHER``."""
    verb = method if _METHOD.match(method) else "OTHER"
    return f"{verb} {template(path)}"


def split_route(route: str) -> tuple[str, str]:
    """``("GET", "/orders/{id}")`` from ``"GET /orders/{id}"``."""
    method, _, path = route.partition(" ")
    return method, path


@dataclass(frozen=True)
class RouteStats:
    """One route over a profile's window. Latencies are in milliseconds (measured by the
    proxy, from the request head to the response's last byte); bytes are means per
    request (bodies only)."""

    route: str
    method: str
    template: str
    count: int
    statuses: dict[int, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    request_bytes: float
    response_bytes: float

    @property
    def error_rate(self) -> float:
        """Share of this route's responses with a 5xx status."""
        errors = sum(n for status, n in self.statuses.items() if status >= 500)
        return errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Minute:
    """One minute of traffic (``start`` is UTC, on the minute): its requests, the requests
    of its busiest second, its requests per route and the most requests in flight at
    once."""

    start: datetime
    requests: int
    peak_second: int
    routes: dict[str, int]
    max_concurrency: int


@dataclass(frozen=True)
class TrafficProfile:
    """An environment's traffic between ``since`` and ``until``: per-route statistics
    (busiest first) and the minutes, oldest first."""

    environment: str
    since: datetime
    until: datetime
    routes: tuple[RouteStats, ...]
    minutes: tuple[Minute, ...] = field(default=())

    @property
    def requests(self) -> int:
        """All requests in the window."""
        return sum(r.count for r in self.routes)

    @property
    def peak_rps(self) -> float:
        """The most requests seen in one second in the window (0.0 with no traffic)."""
        return float(max((m.peak_second for m in self.minutes), default=0))

    @property
    def max_concurrency(self) -> int:
        """The most requests in flight at once in the window."""
        return max((m.max_concurrency for m in self.minutes), default=0)

    @property
    def busiest_hour(self) -> tuple[datetime, int, float] | None:
        """The clock hour with the most requests: its start, its requests and its peak
        requests per second (the earliest such hour on a tie); None with no traffic."""
        hours: dict[datetime, list[Minute]] = {}
        for minute in self.minutes:
            start = minute.start.replace(minute=0, second=0, microsecond=0)
            hours.setdefault(start, []).append(minute)
        if not hours:
            return None
        totals = {start: sum(m.requests for m in ms) for start, ms in hours.items()}
        best = min(totals, key=lambda start: (-totals[start], start))
        return best, totals[best], float(max(m.peak_second for m in hours[best]))

    @property
    def mix(self) -> dict[str, float]:
        """Each route's share of the window's requests (they add up to 1.0)."""
        total = self.requests
        return {r.route: r.count / total for r in self.routes} if total else {}

    @property
    def window(self) -> timedelta:
        return self.until - self.since

    def to_json(self) -> dict[str, Any]:
        """The profile as plain JSON values (``--json``); the derived figures
        (``requests``, ``peak_rps``, ``busiest_hour``, ``mix``, ``max_concurrency``) are
        included for readers and ignored by :meth:`from_json`."""
        busiest = self.busiest_hour
        return {
            "environment": self.environment,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "requests": self.requests,
            "peak_rps": self.peak_rps,
            "max_concurrency": self.max_concurrency,
            "busiest_hour": (
                None
                if busiest is None
                else {
                    "start": busiest[0].isoformat(),
                    "requests": busiest[1],
                    "peak_rps": busiest[2],
                }
            ),
            "mix": self.mix,
            "routes": [_route_json(r) for r in self.routes],
            "minutes": [_minute_json(m) for m in self.minutes],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrafficProfile:
        """The profile :meth:`to_json` wrote (KeyError/ValueError on anything else)."""
        return cls(
            environment=str(data["environment"]),
            since=datetime.fromisoformat(data["since"]),
            until=datetime.fromisoformat(data["until"]),
            routes=tuple(_route_from(r) for r in data["routes"]),
            minutes=tuple(_minute_from(m) for m in data["minutes"]),
        )


def _route_json(r: RouteStats) -> dict[str, Any]:
    return {
        "route": r.route,
        "method": r.method,
        "template": r.template,
        "count": r.count,
        "statuses": {str(k): v for k, v in sorted(r.statuses.items())},
        "p50_ms": r.p50_ms,
        "p90_ms": r.p90_ms,
        "p99_ms": r.p99_ms,
        "request_bytes": r.request_bytes,
        "response_bytes": r.response_bytes,
    }


def _route_from(data: dict[str, Any]) -> RouteStats:
    return RouteStats(
        route=str(data["route"]),
        method=str(data["method"]),
        template=str(data["template"]),
        count=int(data["count"]),
        statuses={int(k): int(v) for k, v in data["statuses"].items()},
        p50_ms=float(data["p50_ms"]),
        p90_ms=float(data["p90_ms"]),
        p99_ms=float(data["p99_ms"]),
        request_bytes=float(data["request_bytes"]),
        response_bytes=float(data["response_bytes"]),
    )


def _minute_json(m: Minute) -> dict[str, Any]:
    return {
        "start": m.start.isoformat(),
        "requests": m.requests,
        "peak_second": m.peak_second,
        "routes": dict(m.routes),
        "max_concurrency": m.max_concurrency,
    }


def _minute_from(data: dict[str, Any]) -> Minute:
    return Minute(
        start=datetime.fromisoformat(data["start"]),
        requests=int(data["requests"]),
        peak_second=int(data["peak_second"]),
        routes={str(k): int(v) for k, v in data["routes"].items()},
        max_concurrency=int(data["max_concurrency"]),
    )
