"""Process types beside web: the specs (pure), and a worker through a real agent that is
SIGKILLed and comes back (the worker is adopted, not started twice)."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.agent.release import ReleaseSpec, process_key
from stageline.agent.spec import ProcessSpec, ServiceStatus, SpecError
from stageline.agent.state import AgentPaths, load_running
from stageline.host.procfs import is_alive

from .helpers import Reaper, ReleaseFactory, free_port, wait_for

WORKER = (
    "import os, sys, time; print('worker', os.environ['APP_VERSION'], flush=True); time.sleep(600)"
)


def worker(template: ProcessSpec, name: str = "worker") -> ProcessSpec:
    return replace(
        template,
        argv=[sys.executable, "-c", WORKER],
        port=0,
        health_path="",
        log_path=template.log_path.replace(".log", f"-{name}.log"),
        process_type=name,
    )


def with_worker(spec: ReleaseSpec) -> ReleaseSpec:
    return replace(spec, workers=(worker(spec.template),))


def test_a_worker_spec_round_trips_and_has_no_port(make_release: ReleaseFactory) -> None:
    spec = with_worker(make_release(public_port=8080))
    again = ReleaseSpec.from_dict(spec.to_dict())
    assert again == spec and again.workers[0].process_type == "worker"
    bad = {**spec.workers[0].to_dict(), "port": 8081}
    with pytest.raises(SpecError, match="no port or health path"):
        ProcessSpec.from_dict(bad)
    web = {**spec.template.to_dict(), "process_type": "web"}
    with pytest.raises(SpecError, match="not a worker"):
        ReleaseSpec.from_dict({**spec.to_dict(), "workers": [web]})


def test_what_an_older_agent_wrote_still_reads(make_release: ReleaseFactory) -> None:
    spec = make_release(public_port=8080)
    old = spec.to_dict()
    del old["workers"]
    del old["template"]["process_type"]
    assert ReleaseSpec.from_dict(old) == spec
    status = ServiceStatus("staging", "r", 1, 80, "running", True, 0, None, None).to_dict()
    del status["process_type"]
    assert ServiceStatus.from_dict(status).process_type == "web"


def test_old_and_new_workers_have_keys_of_their_own(make_release: ReleaseFactory) -> None:
    one = worker(make_release("sha256:" + "1" * 64, public_port=8080).template)
    two = replace(one, release="sha256:" + "2" * 64)
    assert process_key("staging", one) == "staging:worker:111111111111"
    assert len({process_key("staging", one), process_key("staging", two)}) == 2


@pytest.mark.slow
def test_a_worker_runs_with_web_is_adopted_after_sigkill_and_switched_away(
    client: AgentClient, make_release: ReleaseFactory, home: Path, reaper: Reaper
) -> None:
    port = free_port()
    described = client.switch(with_worker(make_release(public_port=port)))
    kinds = [(p["process_type"], p["state"]) for p in described["processes"]]
    assert kinds == [("web", "running"), ("worker", "running")]
    first = next(p["pid"] for p in described["processes"] if p["process_type"] == "worker")
    assert load_running(AgentPaths(home))["staging:worker:r1"].pid == first

    os.kill(client.agent_pid(), signal.SIGKILL)
    wait_for(lambda: not client.is_running(), "the agent to die")
    client.ensure_running()
    reaper.track(client.agent_pid())
    adopted = client.proxied()["staging"]["processes"]
    assert [p["pid"] for p in adopted if p["process_type"] == "worker"] == [first]

    client.switch(with_worker(make_release("sha256:r2", public_port=port)))
    wait_for(lambda: not is_alive(first), "the old worker to stop")
    wait_for(lambda: "staging:worker:r1" not in load_running(AgentPaths(home)), "its record")
    assert "staging:worker:r2" in load_running(AgentPaths(home))
