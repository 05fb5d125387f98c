"""Failure domains: each blue/green environment's public port is held by a front process
of its own, which outlives the agent; orders bring a dead agent back."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.agent.fronts import front_key
from stageline.agent.state import AgentPaths, load_running
from stageline.errors import AgentError
from stageline.host.procfs import is_alive

from .helpers import Reaper, ReleaseFactory, free_port, get, wait_for

pytestmark = pytest.mark.slow


class Load:
    """``rate`` requests a second to ``port`` in a thread, each on a new connection;
    remembers every failure and every version that answered."""

    def __init__(self, port: int, rate: float = 20.0) -> None:
        self.port, self.interval = port, 1.0 / rate
        self.ok = 0
        self.failures: list[str] = []
        self.versions: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        url = f"http://127.0.0.1:{self.port}/x"
        fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
        with httpx.Client(trust_env=False, timeout=5, limits=fresh) as http:
            while not self._stop.is_set():
                self._one(http, url)
                self._stop.wait(self.interval)

    def _one(self, http: httpx.Client, url: str) -> None:
        try:
            response = http.get(url)
            response.raise_for_status()
            self.versions.add(response.json()["version"])
            self.ok += 1
        except (httpx.HTTPError, ValueError) as exc:
            self.failures.append(f"{type(exc).__name__}: {exc}")


def front_pid(home: Path, environment: str = "staging") -> int:
    """The front's pid as running.json has it; 0 while it has none."""
    entry = load_running(AgentPaths(home)).get(front_key(environment))
    return entry.pid if entry else 0


def test_killing_the_agent_right_after_a_switch_fails_no_request(
    client: AgentClient, make_release: ReleaseFactory, home: Path, reaper: Reaper
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port, processes=2))
    front = front_pid(home)
    reaper.track(front)
    with Load(port) as load:
        wait_for(lambda: load.ok >= 10, "the load to run")
        client.switch(make_release("sha256:r2", public_port=port, processes=2, watch=5))
        agent = client.agent_pid()
        assert agent is not None
        os.kill(agent, signal.SIGKILL)
        wait_for(lambda: not is_alive(agent), "the agent to die")
        served_without_agent = load.ok
        time.sleep(3)  # no agent at all: the front keeps serving
        assert load.ok >= served_without_agent + 15
        assert not client.is_running()
        described = client.proxied()["staging"]  # the next order brings the agent back
        reaper.track(client.agent_pid())
        assert described["serving"] == "sha256:r2" and described["front"]["pid"] == front
        time.sleep(1)
    assert load.failures == [], load.failures[:5]
    assert load.ok >= 40 and "sha256:r2" in load.versions
    assert front_pid(home) == front  # adopted, not replaced
    settled = client.outcome("staging", timeout=30)
    assert settled["settled"] and settled["serving"] == "sha256:r2"


def test_a_front_that_dies_is_started_again_and_routes_as_before(
    client: AgentClient, make_release: ReleaseFactory, home: Path, reaper: Reaper
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    first = front_pid(home)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: front_pid(home) not in (0, first), "a new front")
    reaper.track(front_pid(home))
    assert wait_for(lambda: _answers(port), "the new front to serve")["version"] == "sha256:r1"


def test_every_order_brings_back_a_needed_agent_and_none_is_started_for_nothing(
    client: AgentClient, make_release: ReleaseFactory, home: Path, reaper: Reaper, tmp_path: Path
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    agent = client.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: not is_alive(agent), "the agent to die")
    assert get(port, "/x")["version"] == "sha256:r1"
    assert client.status()["staging"].release == "sha256:r1"  # not only deploys restart it
    again = client.agent_pid()
    reaper.track(again)
    assert again is not None and again != agent

    empty = AgentClient(Path(os.path.realpath("/tmp")) / f"sla-none-{os.getpid()}")
    with pytest.raises(AgentError, match="no agent is running"):
        empty.status()
    assert not empty.paths.dir.exists()


def test_stopping_the_environment_closes_its_public_port(
    client: AgentClient, make_release: ReleaseFactory, home: Path
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    front = front_pid(home)
    client.stop("staging", shutdown_when_idle=False)
    wait_for(lambda: not is_alive(front), "the front to stop")
    with pytest.raises(httpx.ConnectError):
        get(port)


def test_a_taken_port_is_refused_clearly(client: AgentClient, make_release: ReleaseFactory) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(AgentError, match=f"cannot serve staging on 127.0.0.1:{port}: .*in use"):
            client.switch(make_release(public_port=port))
    assert "staging" not in client.proxied()


def _answers(port: int) -> dict[str, str] | None:
    try:
        return get(port, "/x")
    except httpx.HTTPError:
        return None
