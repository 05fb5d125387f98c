"""Blue/green with the real example service: no failed request under load, automatic
rollback after a crash, and a consistent environment after the agent is SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.host.procfs import is_alive
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli
from tests.e2e.load import Load

pytestmark = pytest.mark.slow
OLD, NEW = TAGS


def configure(repo: Path, **settings: int) -> str:
    """Put switch settings into ``[defaults]``; returns development's URL."""
    lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text()
    pipeline_file.write_text(text.replace("[defaults]\n", f"[defaults]\n{lines}", 1))
    with Session.open(repo) as session:
        return session.pipeline().environment("development").url


def digest_of(repo: Path, tag: str) -> str:
    result = cli(repo, "artifacts", "--json")
    assert result.returncode == 0, result.stderr
    return next(a["digest"] for a in json.loads(result.stdout) if a["tag"] == tag)


def test_deploy_and_rollback_under_load_fail_no_request(shop: Path) -> None:
    url = configure(shop, processes=2, watch=1, drain_timeout=10)
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    with Load(url) as load:
        deployed = cli(shop, "deploy", "development", NEW, "--wait")
        assert deployed.returncode == 0, deployed.stderr
        # NEW's nullable column stays: OLD runs on it as it is (NEW ran on another schema)
        rolled = cli(shop, "rollback", "development", "--wait", "--keep-schema")
        assert rolled.returncode == 0, rolled.stderr
    assert load.failed == []
    old, new = digest_of(shop, OLD), digest_of(shop, NEW)
    assert load.ok.get(old, 0) > 0 and load.ok.get(new, 0) > 0, load.ok
    status = cli(shop, "status", "--json")
    development = next(
        e for e in json.loads(status.stdout)["environments"] if e["name"] == "development"
    )
    assert (development["serving"], development["processes"]) == (old, 2)
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert [h["status"] for h in history[:3]] == ["succeeded"] * 3


def test_a_crash_after_the_switch_is_rolled_back_and_recorded(shop: Path) -> None:
    url = configure(shop, watch=30)
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    deployed = cli(shop, "deploy", "development", NEW)
    assert deployed.returncode == 0, deployed.stderr
    assert "watching" in deployed.stdout
    with Session.open(shop) as session:
        env = session.pipeline().environment("development")
        target = session.target(env, "shop")
        running = target.status()
        assert running is not None and running.pid is not None
        os.killpg(running.pid, signal.SIGKILL)  # the new release crashes in its window
        outcome = target.wait_watch(timeout=120)
    assert outcome is not None and outcome.status == "rolled_back"
    old = digest_of(shop, OLD)
    assert outcome.serving == old
    assert httpx.get(f"{url}/healthz", trust_env=False).json()["digest"] == old
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert history[0]["status"] == "rolled_back" and "exited" in history[0]["detail"]
    assert history[1]["status"] == "succeeded" and history[1]["digest"] == old

    # a command that died mid-deploy left a record in progress: the next deploy settles it
    with Session.open(shop) as session:
        stale = session.store.start_deployment(
            "development", digest_of(shop, NEW), actor="gone", kind="deploy"
        )
    rolled = cli(shop, "rollback", "development", "--to", OLD, "--keep-schema")
    assert rolled.returncode == 0, rolled.stderr
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    settled = next(h for h in history if h["id"] == stale.id)
    assert settled["status"] == "failed" and "interrupted" in settled["detail"]


@pytest.mark.parametrize(
    ("point", "code", "serves"), [("after-start", 3, OLD), ("after-switch", 0, NEW)]
)
def test_sigkill_of_the_agent_mid_deploy_leaves_one_release_and_a_true_record(
    shop: Path, monkeypatch: pytest.MonkeyPatch, point: str, code: int, serves: str
) -> None:
    url = configure(shop, watch=1)
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    agent = AgentClient(shop / ".stageline")
    pid = agent.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)  # the service keeps running; the next agent has the fault
    monkeypatch.setenv("STAGELINE_AGENT_FAULT", point)
    result = cli(shop, "deploy", "development", NEW)
    assert result.returncode == code, result.stdout + result.stderr
    assert not is_alive(pid)
    expected = digest_of(shop, serves)
    answers = {httpx.get(f"{url}/healthz", trust_env=False).json()["digest"] for _ in range(5)}
    assert answers == {expected}
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert history[0]["status"] == ("succeeded" if code == 0 else "failed")
    assert all(h["status"] != "in_progress" for h in history)
    status = cli(shop, "status", "--json")
    development = next(
        e for e in json.loads(status.stdout)["environments"] if e["name"] == "development"
    )
    assert development["serving"] == expected and development["digest"] == expected


def test_a_killed_agent_leaves_the_port_serving_and_status_and_logs_bring_it_back(
    shop: Path,
) -> None:
    url = configure(shop, watch=1)
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    agent = AgentClient(shop / ".stageline")
    pid = agent.agent_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    old = digest_of(shop, OLD)
    assert httpx.get(f"{url}/healthz", trust_env=False).json()["digest"] == old  # no agent
    assert not agent.is_running()
    status = cli(shop, "status", "--json")
    assert status.returncode == 0, status.stderr
    development = next(
        e for e in json.loads(status.stdout)["environments"] if e["name"] == "development"
    )
    assert development["serving"] == old and development["health"] == "healthy"
    again = agent.agent_pid()
    assert again is not None and again != pid
    os.kill(again, signal.SIGKILL)
    logs = cli(shop, "logs", "development")
    assert logs.returncode == 0, logs.stderr
    assert agent.agent_pid() not in (None, again)
