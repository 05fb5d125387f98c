"""The agent end to end: a real agent process, real service processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.agent.state import AgentPaths, load_desired, load_running
from stageline.errors import AgentError
from stageline.host.procfs import is_alive, proc_start_time

from .helpers import Reaper, SpecFactory, get, wait_for

pytestmark = pytest.mark.slow


def test_start_runs_a_healthy_service(client: AgentClient, make_spec: SpecFactory) -> None:
    spec = make_spec()
    status = client.start(spec)
    assert (status.state, status.healthy, status.restarts) == ("running", True, 0)
    assert get(spec.port) == {"pid": status.pid, "version": "sha256:r1"}
    assert client.status()["staging"].pid == status.pid
    paths = AgentPaths(client.home)
    assert load_desired(paths) == {"staging": spec}
    assert load_running(paths)["staging"].pid == status.pid


def test_start_replaces_the_running_release(client: AgentClient, make_spec: SpecFactory) -> None:
    first = client.start(make_spec(release="sha256:r1"))
    spec = make_spec(release="sha256:r2", port=first.port)
    second = client.start(spec)
    assert first.pid is not None and not is_alive(first.pid)
    assert get(spec.port) == {"pid": second.pid, "version": "sha256:r2"}
    assert load_desired(AgentPaths(client.home))["staging"].release == "sha256:r2"


def test_a_killed_service_is_restarted(client: AgentClient, make_spec: SpecFactory) -> None:
    spec = make_spec()
    old = client.start(spec)
    assert old.pid is not None
    os.kill(old.pid, signal.SIGKILL)
    new = wait_for(
        lambda: (s := client.status()["staging"]).healthy and s.pid != old.pid and s,
        "the service to be restarted",
    )
    assert (new.restarts, new.state, new.last_exit) == (1, "running", -signal.SIGKILL)
    assert get(spec.port)["pid"] == new.pid


def test_a_service_that_exits_at_start_is_reported_and_reverted(
    client: AgentClient, make_spec: SpecFactory
) -> None:
    good = make_spec(release="sha256:good")
    running = client.start(good)
    bad = make_spec(release="sha256:bad", port=good.port, APP_EXIT_AT_START="1")
    with pytest.raises(AgentError, match="exited with code 1 before it was healthy") as caught:
        client.start(bad)
    assert "app: exiting at start as asked" in caught.value.log_tail
    assert "listening" not in caught.value.log_tail  # only this start's lines
    assert load_desired(AgentPaths(client.home)) == {"staging": good}
    assert running.pid is not None and not is_alive(running.pid)  # replaced, as asked
    status = client.status()["staging"]
    assert (status.release, status.state, status.pid) == ("sha256:good", "stopped", None)
    assert client.start(good).healthy  # what the caller does next


def test_a_first_start_that_fails_leaves_nothing_desired(
    client: AgentClient, make_spec: SpecFactory
) -> None:
    with pytest.raises(AgentError, match="code 3"):
        client.start(make_spec(APP_EXIT_AT_START="3"))
    assert client.status() == {}
    assert load_desired(AgentPaths(client.home)) == {}


def test_a_service_whose_health_never_passes_is_stopped(
    client: AgentClient, make_spec: SpecFactory
) -> None:
    spec = make_spec(APP_HEALTH_STATUS="503")
    with pytest.raises(AgentError) as caught:
        client.start(spec, health_timeout=1.5)
    assert str(caught.value) == "health check did not pass within 1.5s: last answer 503"
    line = next(x for x in caught.value.log_tail.splitlines() if "listening" in x)
    pid = int(line.split()[2])
    assert not is_alive(pid)
    assert client.status() == {}


def test_a_program_that_cannot_run_is_reported(client: AgentClient, make_spec: SpecFactory) -> None:
    spec = make_spec()
    missing = type(spec)(**{**spec.to_dict(), "argv": ["/nonexistent/program"]})
    with pytest.raises(AgentError, match="could not start '/nonexistent/program'"):
        client.start(missing)
    assert client.is_running()


def test_services_outlive_a_killed_agent_and_are_adopted(
    client: AgentClient, make_spec: SpecFactory, reaper: Reaper
) -> None:
    spec = make_spec()
    service = client.start(spec)
    agent_pid = client.agent_pid()
    assert agent_pid is not None
    os.kill(agent_pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(agent_pid), "the agent to die")
    assert get(spec.port)["pid"] == service.pid

    client.ensure_running()
    reaper.track(client.agent_pid())
    adopted = wait_for(lambda: (s := client.status()["staging"]).healthy and s, "adoption")
    assert (adopted.pid, adopted.state, adopted.restarts) == (service.pid, "running", 0)
    assert adopted.started_at == service.started_at
    assert service.pid is not None
    os.kill(service.pid, signal.SIGKILL)  # an adopted process is watched too
    wait_for(lambda: (s := client.status()["staging"]).healthy and s.pid != service.pid, "restart")


def test_sigterm_ends_the_agent_but_not_the_services(
    client: AgentClient, make_spec: SpecFactory, reaper: Reaper
) -> None:
    spec = make_spec()
    service = client.start(spec)
    agent_pid = client.agent_pid()
    assert agent_pid is not None
    os.kill(agent_pid, signal.SIGTERM)
    wait_for(lambda: not is_alive(agent_pid), "the agent to exit")
    assert not client.is_running()
    assert get(spec.port)["pid"] == service.pid
    client.ensure_running()
    reaper.track(client.agent_pid())
    wait_for(lambda: client.status()["staging"].pid == service.pid, "adoption")


def test_a_new_agent_starts_desired_services_that_are_gone(
    client: AgentClient, make_spec: SpecFactory, reaper: Reaper
) -> None:
    spec = make_spec()
    service = client.start(spec)
    agent_pid = client.agent_pid()
    assert agent_pid is not None and service.pid is not None
    os.kill(agent_pid, signal.SIGKILL)
    os.killpg(service.pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(service.pid) and not is_alive(agent_pid), "both to die")

    client.ensure_running()
    reaper.track(client.agent_pid())
    new = wait_for(lambda: (s := client.status()["staging"]).healthy and s, "a fresh start")
    assert new.pid != service.pid
    assert get(spec.port)["pid"] == new.pid


def test_a_reused_pid_is_not_adopted(home: Path, make_spec: SpecFactory, reaper: Reaper) -> None:
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    reaper.track(stranger.pid)
    spec = make_spec()
    paths = AgentPaths(home)
    paths.dir.mkdir(parents=True)
    paths.desired.write_text(json.dumps({"staging": spec.to_dict()}))
    start = proc_start_time(stranger.pid)
    assert start is not None
    entry = {
        "pid": stranger.pid,
        "proc_start": start - 1,
        "started_at": "x",
        "release": "sha256:r1",
    }
    paths.running.write_text(json.dumps({"staging": entry}))

    client = AgentClient(home)
    client.ensure_running()
    reaper.track(client.agent_pid())
    new = wait_for(lambda: (s := client.status()["staging"]).healthy and s, "a fresh start")
    assert new.pid != stranger.pid
    assert stranger.poll() is None  # left alone
    stranger.kill()
    stranger.wait()


def test_stop_kills_the_process_group_and_the_idle_agent_exits(
    client: AgentClient, make_spec: SpecFactory, home: Path, reaper: Reaper
) -> None:
    pidfile = home / "child.pid"
    service = client.start(make_spec(APP_CHILD_PIDFILE=str(pidfile)))
    child = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), "the child pid"))
    reaper.track(child)
    agent_pid = client.agent_pid()
    assert agent_pid is not None and service.pid is not None

    client.stop("staging")
    assert not is_alive(service.pid)
    assert not is_alive(child)
    assert not is_alive(agent_pid)
    assert not client.is_running()
    assert load_desired(AgentPaths(home)) == {}


def test_stop_keeps_the_agent_while_others_run(client: AgentClient, make_spec: SpecFactory) -> None:
    client.start(make_spec("staging"))
    production = client.start(make_spec("production"))
    client.stop("staging")
    assert client.is_running()
    assert list(client.status()) == ["production"]
    assert get(production.port)["pid"] == production.pid


def test_a_second_agent_on_the_same_home_refuses(client: AgentClient, home: Path) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "stageline.agent", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"an agent already runs for {home} (pid {client.agent_pid()})" in second.stderr
    assert client.is_running()


def test_bad_requests_get_errors_and_the_agent_carries_on(client: AgentClient) -> None:
    requests = [
        b"not json\n",
        b"[1, 2]\n",
        b'{"op": "explode"}\n',
        b'{"op": "start", "spec": {"environment": 1}}\n',
        b'{"op": "stop"}\n',
    ]
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(AgentPaths(client.home).socket))
        answers = sock.makefile("rb")
        for request in requests:
            sock.sendall(request)
            answer = json.loads(answers.readline())
            assert answer["ok"] is False and answer["error"], request
        answers.close()
    assert client.status() == {}
