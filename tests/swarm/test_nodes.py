"""A swarm whose node is not at 127.0.0.1: the swarm advertises 127.0.0.2 (the whole
127.0.0.0/8 is this host's loopback), the tasks listen there (``listen``, ``{host}`` in the
start command), and the front and every health check reach each task at its node's
address: code that assumed 127.0.0.1 fails here. Then an update made behind stageline's
back fails and Swarm rolls it back by itself: ``status`` records it."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.agent.state import AgentPaths, load_proxied
from stageline.targets.swarm.engine import Engine
from stageline.usecases.demo import TAGS
from tests.e2e import helpers
from tests.e2e.helpers import workspace_copy
from tests.swarm.docker import BASE_IMAGE, advertising

pytestmark = pytest.mark.slow
NODE = "127.0.0.2"
TAG = TAGS[0]  # built by ``shop_template``; its image is kept with the engine's data


def cli(repo: Path, *args: str) -> Any:
    """``helpers.cli``, its time printed (``pytest -s`` shows where the time goes)."""
    started = time.monotonic()
    done = helpers.cli(repo, *args)
    print(f"{time.monotonic() - started:6.1f}s  stageline {' '.join(args)}")
    return done


def ok(done: Any) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return str(done.stdout)


def staging_on_swarm(repo: Path, engine: Engine) -> None:
    """staging as a swarm environment whose tasks listen on ``NODE`` (the shop's start
    command binds ``{host}``)."""
    path = repo / "stageline.toml"
    text = path.read_text()
    port = re.search(r"\[environments\.staging\][^\[]*?port = (\d+)", text)
    assert port
    swarm = (
        f'target = {{ kind = "swarm", port = {port[1]}, replicas = 1, listen = "{NODE}", '
        f'base_image = "{BASE_IMAGE}", docker_host = "{engine.host}" }}\n'
        "watch = 12\nhealth_timeout = 20"  # the after-deploy smoke check runs in the window
    )
    path.write_text(text.replace(f'target = {{ kind = "local", port = {port[1]} }}', swarm, 1))


def serving_service(engine: Engine) -> dict[str, Any]:
    names = engine.run(["service", "ls", "-q"]).split()
    found = [s for s in engine.inspect("service", *names) if "worker" not in s["Spec"]["Name"]]
    assert len(found) == 1, [s["Spec"]["Name"] for s in found]
    return found[0]


def update_state(engine: Engine) -> str:
    return str((serving_service(engine).get("UpdateStatus") or {}).get("State", ""))


def staging_url(repo: Path) -> str:
    text = (repo / "stageline.toml").read_text()
    found = re.search(r'\[environments\.staging\]\n[^\[]*?url = "([^"]+)"', text)
    assert found
    return found[1]


def listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def test_tasks_on_a_node_that_is_not_127_0_0_1(shop_template: Path, swarm_engine: Engine) -> None:
    with (
        advertising(swarm_engine, NODE) as engine,
        workspace_copy(shop_template, "stageline-nodes-") as shop,
    ):
        staging_on_swarm(shop, engine)
        ok(cli(shop, "deploy", "staging", TAG, "--force"))

        front = load_proxied(AgentPaths(shop / ".stageline" / "envs" / "staging" / "swarm"))
        serving = front["staging"].serving
        assert serving is not None and {h for h, _ in serving.addresses} == {NODE}
        for _, port in serving.addresses:  # on the node's address, nowhere else
            assert listening(NODE, port) and not listening("127.0.0.1", port)
        url = staging_url(shop)
        assert httpx.get(url + "/healthz", trust_env=False).status_code == 200

        # behind stageline's back: an update whose tasks never get healthy; Swarm rolls
        # it back by itself
        name = serving_service(engine)["Spec"]["Name"]
        engine.run([
            "service", "update", "--detach", "--update-failure-action", "rollback",
            "--update-monitor", "2s", "--health-cmd", "false", "--health-interval", "1s",
            "--health-retries", "1", "--health-start-period", "0s", name,
        ])  # fmt: skip
        started = time.monotonic()
        while (update := update_state(engine)) != "rollback_completed":
            assert time.monotonic() < started + 60, update
            time.sleep(1)
        print(f"{time.monotonic() - started:6.1f}s  the engine rolled the update back")
        status = json.loads(ok(cli(shop, "status", "--json")))
        staging = {e["name"]: e for e in status["environments"]}["staging"]
        assert staging["health"] == "healthy", staging  # each task asked at 127.0.0.2
        ok(cli(shop, "status"))  # recorded once, not at every look
        audit = json.loads(ok(cli(shop, "audit", "staging", "--json")))
        noted = [e for e in audit if e["kind"] == "swarm.rollback"]
        assert len(noted) == 1, audit[:5]
        assert "rollback_completed" in json.dumps(noted[0]["data"]), noted[0]
        history = json.loads(ok(cli(shop, "history", "staging", "--json")))
        assert history[0]["status"] == "succeeded"  # what runs is what was deployed
        assert httpx.get(url + "/healthz", trust_env=False).status_code == 200
