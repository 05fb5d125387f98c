"""What to send and when: a constant arrival rate at a traffic profile's route mix. Pure.

The schedule is decided before anything is sent, so the baseline and the candidate get
exactly the same requests in the same order at the same offsets:

- :func:`arrivals`: request ``i`` is due ``i / rate`` seconds after the start (open loop:
  the schedule never waits for an answer);
- :func:`weave`: which route each request is, by smooth weighted round-robin over the
  mix (every prefix of the sequence keeps the mix as closely as whole requests can);
- :func:`fill`: a route template's ``{id}``/``{uuid}``/``{hash}`` segments filled from
  the rows of the route's values, used in turn;
- :func:`plan`: all of it, into :class:`Job` values (a GET route: one call; a write: its
  scenario's calls, sent one after the other on one connection).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: a normalized segment of a route template (``stageline.traffic.profile.normalize``)
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@dataclass(frozen=True)
class Call:
    """One HTTP request, ready to send."""

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Job:
    """What is due ``at`` seconds after the start: one route's call(s)."""

    at: float
    route: str
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Source:
    """How a route is replayed: path ``rows`` for a template's placeholders (a GET), or
    the fixed ``calls`` of its scenario (a write)."""

    rows: tuple[tuple[str, ...], ...] = ()
    calls: tuple[Call, ...] = field(default=())


def split_route(route: str) -> tuple[str, str]:
    """("GET", "/orders/{id}") from "GET /orders/{id}"."""
    method, _, template = route.partition(" ")
    return method.upper(), template or "/"


def arity(template: str) -> int:
    """How many placeholders ``template`` has."""
    return len(PLACEHOLDER.findall(template))


def arrivals(rate: float, duration: float) -> list[float]:
    """The due offsets (seconds) of a constant ``rate`` (req/s) over ``duration`` seconds."""
    if rate <= 0 or duration <= 0:
        return []
    count = int(rate * duration + 1e-9)
    return [i / rate for i in range(count)]


def weave(mix: Mapping[str, float], count: int) -> list[str]:
    """``count`` routes in the proportions of ``mix`` (route -> share; shares need not sum
    to 1), by smooth weighted round-robin; ties go to the route named first in sorted
    order, so the sequence depends on nothing but its input."""
    weights = {route: share for route, share in sorted(mix.items()) if share > 0}
    total = sum(weights.values())
    if not weights or count <= 0:
        return []
    current = dict.fromkeys(weights, 0.0)
    order: list[str] = []
    for _ in range(count):
        for route, weight in weights.items():
            current[route] += weight
        chosen = max(current, key=lambda route: current[route])
        current[chosen] -= total
        order.append(chosen)
    return order


def fill(template: str, row: Sequence[str]) -> str:
    """``template`` with its placeholders replaced by ``row``'s values, in order."""
    values = iter(row)
    return PLACEHOLDER.sub(lambda _match: str(next(values)), template)


def unreplayable(mix: Mapping[str, float], sources: Mapping[str, Source]) -> list[str]:
    """The routes of ``mix`` that cannot be replayed from ``sources``: a write without a
    scenario, or a template with placeholders but no values."""
    missing = []
    for route in sorted(mix):
        source = sources.get(route)
        method, template = split_route(route)
        if source is not None and source.calls:
            continue
        if method not in ("GET", "HEAD") or (arity(template) and not (source and source.rows)):
            missing.append(route)
    return missing


def plan(
    mix: Mapping[str, float], rate: float, duration: float, sources: Mapping[str, Source]
) -> list[Job]:
    """Every request of the run, due in order. ``mix`` must be replayable
    (:func:`unreplayable` empty)."""
    offsets = arrivals(rate, duration)
    used: dict[str, int] = {}
    jobs = []
    for at, route in zip(offsets, weave(mix, len(offsets)), strict=True):
        turn = used.get(route, 0)
        used[route] = turn + 1
        jobs.append(Job(at, route, _calls(route, sources.get(route), turn)))
    return jobs


def _calls(route: str, source: Source | None, turn: int) -> tuple[Call, ...]:
    if source is not None and source.calls:
        return source.calls
    method, template = split_route(route)
    if arity(template):
        assert source is not None and source.rows, f"no values for {route}"
        return (Call(method, fill(template, source.rows[turn % len(source.rows)])),)
    return (Call(method, template),)
