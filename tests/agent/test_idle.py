"""Scale to zero through a real agent, front and service: the environment goes idle (no
service process, the port still taken), a burst of requests wakes it and is served, a
crash is still a crash, a request wakes it even when the agent was stopped (the front
starts one, which finds the environment still idle), a failed deploy to an idle
environment leaves it idle, a good one works, and ``stop`` ends it."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.agent.release import ReleaseSpec
from stageline.agent.spec import ServiceStatus
from stageline.agent.state import AgentPaths, load_proxied, load_running
from stageline.errors import AgentError
from stageline.host.procfs import is_alive

from .helpers import Reaper, ReleaseFactory, free_port, wait_for

pytestmark = pytest.mark.slow
IDLE_AFTER = 1.0
BURST = 12
WORKER = "import time; time.sleep(600)"


def idle_release(
    make_release: ReleaseFactory, release: str, port: int, **app_env: str
) -> ReleaseSpec:
    spec = make_release(release, public_port=port, **app_env)
    worker = replace(
        spec.template,
        argv=[sys.executable, "-c", WORKER],
        port=0,
        health_path="",
        log_path=spec.template.log_path.replace(".log", "-worker.log"),
        process_type="worker",
    )
    return replace(spec, workers=(worker,), scale_to_zero_after=IDLE_AFTER)


def service_pids(home: Path) -> set[int]:
    """The pids of the environment's service processes (its front excluded)."""
    running = load_running(AgentPaths(home))
    return {e.pid for k, e in running.items() if k.startswith("staging:") and e.release != "front"}


def staging(client: AgentClient) -> ServiceStatus:
    return client.status()["staging"]


def port_accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def get_version(port: int) -> tuple[int, str, float, float]:
    """Status, version (or the error text), when it was sent and how long it took."""
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{port}/x", trust_env=False, timeout=60)
    seconds = time.monotonic() - started
    version = response.json()["version"] if response.status_code == 200 else response.text
    return response.status_code, version, started, seconds


def test_idle_environment_sleeps_wakes_for_a_burst_and_a_crash_is_still_a_crash(
    client: AgentClient, make_release: ReleaseFactory, home: Path, reaper: Reaper
) -> None:
    port = free_port()
    client.switch(idle_release(make_release, "sha256:r1", port))
    assert get_version(port)[:2] == (200, "sha256:r1")
    first = service_pids(home)
    assert len(first) == 2  # web and worker
    for pid in first:
        reaper.track(pid)

    wait_for(lambda: staging(client).state == "idle", "the environment to scale to zero")
    status = staging(client)
    assert (status.pid, status.release, status.restarts, status.last_exit) == (
        None,
        "sha256:r1",
        0,
        None,
    )
    assert not any(is_alive(pid) for pid in first) and not service_pids(home)
    assert load_proxied(AgentPaths(home))["staging"].idle
    assert client.proxied()["staging"]["idle"] and port_accepts(port)

    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda _: get_version(port), range(BURST)))
    assert [a[:2] for a in answers] == [(200, "sha256:r1")] * BURST
    first_sent = min(answers, key=lambda a: a[2])
    print(f"\nfirst request after scale to zero: {first_sent[3]:.2f}s; "
          f"slowest of {BURST} concurrent: {max(a[3] for a in answers):.2f}s")  # fmt: skip
    woken = service_pids(home)
    assert len(woken) == 2 and not woken & first
    for pid in woken:
        reaper.track(pid)
    assert client.proxied()["staging"]["front"]["wakes"] == 1  # one wake for the burst

    keep_awake = threading.Event()

    def requests() -> None:
        while not keep_awake.is_set():
            get_version(port)
            time.sleep(0.1)

    poller = threading.Thread(target=requests)
    poller.start()
    try:
        web = staging(client).pid
        assert web is not None
        os.kill(web, signal.SIGKILL)
        crashed = wait_for(lambda: staging(client).restarts >= 1, "the crash to be counted")
        assert crashed and staging(client).state != "idle"
        wait_for(lambda: staging(client).state == "running", "the restart after the crash")
    finally:
        keep_awake.set()
        poller.join()

    wait_for(lambda: staging(client).state == "idle", "the environment to scale to zero again")
    agent = client.agent_pid()
    assert agent is not None
    os.kill(agent, signal.SIGTERM)  # an agent upgrade: the front keeps the port
    wait_for(lambda: not is_alive(agent), "the agent to exit")
    assert get_version(port)[:2] == (200, "sha256:r1")  # the front started a new agent
    reaper.track(client.agent_pid())
    for pid in service_pids(home):
        reaper.track(pid)

    wait_for(lambda: staging(client).state == "idle", "the environment to scale to zero again")
    broken = idle_release(make_release, "sha256:r2", port, APP_EXIT_AT_START="3")
    with pytest.raises(AgentError, match="exited with code 3"):
        client.switch(broken)  # a failed deploy to an idle one loses nothing
    assert staging(client).state == "idle" and port_accepts(port)
    client.switch(idle_release(make_release, "sha256:r2", port))  # a deploy to an idle one
    assert get_version(port)[:2] == (200, "sha256:r2")
    for pid in service_pids(home):
        reaper.track(pid)
    client.stop("staging", shutdown_when_idle=False)
    assert not port_accepts(port) and not service_pids(home)
