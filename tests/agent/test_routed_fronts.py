"""A front its target routes itself (a swarm environment's ``SwarmFront``) is run by the
agent as the local target's are: started again after a crash without any command,
adopted by a restarted agent, stopped for good with its environment. The releases are
plain HTTP processes (the test app) on free ports: the front only proxies ports, so no
engine is needed. The agent refuses a front for an environment it runs itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.agent.state import RoutedFront
from stageline.errors import AgentError
from stageline.host.procfs import is_alive
from stageline.targets.swarm.front import SwarmFront

from .helpers import APP, Reaper, SpecFactory, free_port, get, wait_for

pytestmark = pytest.mark.slow


def release_on_a_port(version: str, reaper: Reaper) -> int:
    """The test app answering ``version``, in a process of its own; returns its port."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "APP_VERSION": version}
    proc = subprocess.Popen(
        [sys.executable, str(APP), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    reaper.track(proc.pid)
    wait_for(lambda: version_on(port), f"{version} to answer on {port}")
    return port


def version_on(port: int) -> str | None:
    """The version that answers on ``port``, or None if nothing does."""
    try:
        return str(get(port)["version"])
    except httpx.HTTPError:
        return None


def test_the_agent_restarts_adopts_and_stops_a_swarm_front(home: Path, reaper: Reaper) -> None:
    old, new = release_on_a_port("sha256:old", reaper), release_on_a_port("sha256:new", reaper)
    public = free_port()
    front = SwarmFront(home / "envs" / "production" / "swarm", "production", "127.0.0.1",
                       public, home)  # fmt: skip
    front.route("sha256:old", (("127.0.0.1", old),))
    client = AgentClient(home)
    agent = client.agent_pid()
    reaper.track(agent)
    assert version_on(public) == "sha256:old"
    front.route("sha256:new", (("127.0.0.1", new),))
    assert version_on(public) == "sha256:new"
    first = front.pid()
    assert first is not None
    reaper.track(first)

    os.kill(first, signal.SIGKILL)  # no stageline command from here on
    assert wait_for(lambda: version_on(public), "the public port to answer", 10) == "sha256:new"
    second = wait_for(front.pid, "running.json to name the new front")  # once it answers
    assert second != first
    reaper.track(second)
    assert client.agent_pid() == agent

    os.kill(agent, signal.SIGTERM)  # the agent exits, the front keeps serving
    wait_for(lambda: not is_alive(agent), "the agent to exit")
    assert version_on(public) == "sha256:new"
    client.ensure_running()
    reaper.track(client.agent_pid())
    assert front.pid() == second  # adopted, not a second one
    routed = client.fronts()["production"]
    assert (routed["pid"], routed["port"], routed["release"]) == (second, public, "sha256:new")

    front.stop()
    assert front.pid() is None and not is_alive(second)
    time.sleep(1.0)  # longer than the first restart's backoff: nothing comes back
    assert version_on(public) is None
    assert client.agent_pid() is None  # nothing else to run: the agent exited too
    front.stop()  # stopping it again starts nothing
    assert client.agent_pid() is None


def test_a_front_order_for_an_environment_the_agent_runs_is_refused(
    client: AgentClient, make_spec: SpecFactory, home: Path
) -> None:
    spec = make_spec("production")
    client.start(spec, health_timeout=15)
    swarm = RoutedFront(home / "envs" / "production" / "swarm", "127.0.0.1", free_port())
    with pytest.raises(AgentError, match="production runs in the agent as a local environment"):
        client.front("production", swarm)
    assert get(spec.port)["version"] == spec.release  # what runs is untouched
    assert client.fronts() == {}
