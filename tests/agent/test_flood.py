"""Isolation: a flood of idle, half-sent connections on one environment's public port
does not slow another environment's port, and does not grow the logs."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.agent.state import AgentPaths

from .helpers import ReleaseFactory, free_port

pytestmark = pytest.mark.slow
FLOOD = Path(__file__).with_name("flood.py")
#: the open-file hard limit here is 20,000 per process, so two flooders hold 10,000 each
FLOODERS, PER_FLOODER = 2, 10_000
SAMPLES = 200
P99_LIMIT = 0.100


def round_trip(port: int) -> float:
    """Seconds for one request on a new connection, answer read to the end."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    return time.perf_counter() - started


def size_of(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def p99(port: int) -> float:
    times = sorted(round_trip(port) for _ in range(SAMPLES))
    return times[int(SAMPLES * 0.99) - 1]


def test_20000_idle_connections_on_one_port_leave_the_other_answering_fast(
    client: AgentClient, make_release: ReleaseFactory, home: Path
) -> None:
    flooded = free_port()
    client.switch(make_release(environment="development", public_port=flooded))
    other = free_port()  # picked after development's copies took their internal ports
    client.switch(make_release(environment="staging", public_port=other))
    paths = AgentPaths(home)
    logs = [paths.front_log("development"), paths.front_log("staging"), paths.log]
    sizes = [size_of(log) for log in logs]
    before = p99(other)
    flooders = [
        subprocess.Popen(
            [sys.executable, str(FLOOD), str(flooded), str(PER_FLOODER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(FLOODERS)
    ]
    try:
        ready = [flooder.stdout.readline().split() for flooder in flooders]  # type: ignore[union-attr]
        during = p99(other)
        front = client.proxied()["development"]["front"]
    finally:
        for flooder in flooders:
            with contextlib.suppress(OSError):
                flooder.stdin.close()  # type: ignore[union-attr]
        for flooder in flooders:
            try:
                flooder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                flooder.kill()
                flooder.wait()
    opened = sum(int(fields[1]) for fields in ready)
    print(
        f"flood: {opened} connections opened, front {front}; staging p99 {before * 1000:.1f} ms"
        f" before, {during * 1000:.1f} ms during"
    )
    assert opened == FLOODERS * PER_FLOODER
    assert front["connections"] >= 1000 or front["refused"] > 0  # the flood reached its cap
    assert during < P99_LIMIT
    grown = [size_of(log) - size for log, size in zip(logs, sizes, strict=True)]
    assert max(grown) < 64 * 1024, grown
