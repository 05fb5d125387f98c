"""The traffic profile a real front records: a known pattern of requests through the
public port of a production environment comes back as its profile (routes, exact counts,
the peak second), written in two parts (a ``flush`` order, then the front's exit) that
add up, and no value any request carried reaches the profile's files."""

from __future__ import annotations

import json
import random
import socket
import string
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.agent.state import AgentPaths
from stageline.traffic.minutes import build_profile
from stageline.traffic.store import TrafficStore, traffic_dir

from .helpers import ReleaseFactory, free_port

BURST = 60


def _word() -> str:
    """A marker that looks like a route word (lowercase letters only)."""
    return "qz" + "".join(random.choices(string.ascii_lowercase, k=12))


def _id() -> str:
    return str(random.randrange(10**11, 10**12))  # 12 digits: no epoch or count has them


def _order(path: Path, op: str) -> dict[str, Any]:
    """One order to a front's control socket, and its answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(json.dumps({"op": op}).encode() + b"\n")
        answer: dict[str, Any] = json.loads(sock.makefile().readline())
    return answer


def _get(base: str, path: str) -> None:
    httpx.get(base + path, trust_env=False, timeout=10).raise_for_status()


def _wait_for_a_fresh_minute(room: float = 20.0) -> None:
    """All of the test's traffic falls in one clock minute (so the vocabulary's fold
    covers every name before the minute is written)."""
    left = 60 - time.time() % 60
    if left < room:
        time.sleep(left + 0.05)


@pytest.mark.slow
def test_a_recorded_profile_is_the_traffic_sent_and_holds_no_value(
    home: Path, client: AgentClient, make_release: ReleaseFactory
) -> None:
    port = free_port()
    release = make_release(public_port=port, environment="production")
    client.switch(replace(release, record_traffic=True))
    markers: list[str] = []
    done: list[float] = []  # when each response ended, as the client saw it
    base = f"http://127.0.0.1:{port}"

    def mark(value: str) -> str:
        markers.append(value)
        return value

    _wait_for_a_fresh_minute()
    with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
        for _ in range(20):
            http.get(
                f"/orders/{mark(_id())}",
                params={"token": mark(_word())},
                headers={
                    "x-api-key": mark(_word()),
                    "authorization": f"Bearer {mark(_word())}",
                    "cookie": f"session={mark(_word())}",
                },
            ).raise_for_status()
            done.append(time.time())
        for _ in range(10):
            body = f'{{"card": "{mark(_word())}"}}'
            http.post("/orders", content=body).raise_for_status()
            done.append(time.time())
        for _ in range(5):  # free text: a slug of several words
            http.get(f"/posts/my-trip-to-{mark(_word())}").raise_for_status()
            done.append(time.time())
        for _ in range(25):  # one-word values: more than a position keeps as route words
            http.get(f"/users/{mark(_word())}").raise_for_status()
            done.append(time.time())

    def burst_one(_: int) -> float:
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
            http.get(f"/orders/{_id()}").raise_for_status()
        return time.time()

    time.sleep(1 - time.time() % 1)  # the burst starts on a second
    with ThreadPoolExecutor(8) as pool:
        done += list(pool.map(burst_one, range(BURST)))

    folder = traffic_dir(home, "production")
    assert _order(AgentPaths(home).front_socket("production"), "flush")["written"] >= 1
    _get(base, "/orders/1")  # after the flush: written when the front exits
    client.stop("production")
    now = datetime.now(UTC)
    records = TrafficStore(folder).read(now - timedelta(minutes=5), now + timedelta(minutes=1))
    profile = build_profile("production", now - timedelta(minutes=5), now, records)

    assert {r.route: r.count for r in profile.routes} == {
        "GET /orders/{id}": 20 + BURST + 1,
        "POST /orders": 10,
        "GET /posts/{slug}": 5,
        "GET /users/{other}": 25,
    }
    post = next(r for r in profile.routes if r.route == "POST /orders")
    assert post.statuses == {200: 10}
    assert post.request_bytes == post.response_bytes > 20  # the app echoes the body
    sent_peak = max(Counter(int(t) for t in done).values())
    assert abs(profile.peak_rps - sent_peak) <= 0.05 * sent_peak
    assert profile.max_concurrency >= 1
    stored = b"".join(p.read_bytes() for p in folder.iterdir())
    assert stored  # something was written, so finding nothing below means something
    assert [m for m in markers if m.encode() in stored] == []
