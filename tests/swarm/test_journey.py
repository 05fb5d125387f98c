"""The shop through four tiers, staging and production on a real (single-node) swarm:
the same image digest in both, gates against the swarm service, promotion held without
sign-off, rollback to the previous image, no failed request under constant load, and a
release failing its health check never takes traffic."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from stageline.targets.swarm.engine import Engine
from stageline.usecases.demo import TAGS
from tests.e2e import helpers
from tests.e2e.helpers import commit_and_tag, sign_off, workspace_copy
from tests.e2e.load import Load
from tests.swarm.docker import BASE_IMAGE
from tests.swarm.registry import local_registry

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
BROKEN = "v1.7.1"
#: staging's gates besides the approval: every one runs against the swarm environment
GATES = {"smoke", "integration", "no-real-side-effects", "migrations", "load", "parity"}


def cli(repo: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """``helpers.cli``, its time printed (``pytest -s`` shows where the minutes go)."""
    started = time.monotonic()
    done = helpers.cli(repo, *args, user=user)
    print(f"{time.monotonic() - started:6.1f}s  stageline {' '.join(args)}")
    return done


def on_swarm(repo: Path, engine: Engine, registry: str) -> None:
    """staging and production as swarm environments with two replicas each; production
    pushes to ``registry``; watch windows short; every gate of the example kept."""
    path = repo / "stageline.toml"
    text = path.read_text()
    # staging's after-deploy smoke check runs inside its watch window: give it time
    settings = (("staging", "", 12), ("production", f', registry = "{registry}"', 4))
    for name, extra, watch in settings:
        port = re.search(rf"\[environments\.{name}\][^\[]*?port = (\d+)", text)
        assert port, name
        swarm = (
            f'target = {{ kind = "swarm", port = {port[1]}, replicas = 2, '
            f'base_image = "{BASE_IMAGE}", docker_host = "{engine.host}"{extra} }}\n'
            f"watch = {watch}\nhealth_timeout = 20"
        )
        text = re.sub(
            rf"(\[environments\.{name}\][^\[]*?)target = \{{ kind = \"local\", port = \d+ \}}",
            lambda m, swarm=swarm: m[1] + swarm,
            text,
        )
    path.write_text(text)


def services_of(engine: Engine, environment: str) -> list[dict[str, Any]]:
    names = engine.run(["service", "ls", "-q"]).split()
    found = engine.inspect("service", *names) if names else []
    return [s for s in found if s["Spec"]["Labels"].get("org.stageline.environment") == environment]


def service_of(repo: Path, engine: Engine, environment: str) -> dict[str, Any]:
    """The one swarm service of ``environment``, once its watch window ended (``status``
    removes the previous release's service then)."""
    deadline = time.monotonic() + 30
    while len(found := services_of(engine, environment)) != 1 and time.monotonic() < deadline:
        ok(cli(repo, "status"))
        time.sleep(1)
    assert len(found) == 1, [s["Spec"]["Name"] for s in found]
    return found[0]


def gates_pass_on_swarm(repo: Path) -> None:
    """Every gate of staging passes against its swarm service (production serves the
    previous release on swarm, under ``Load``), with proof that each ran there; then
    the two approvals (``helpers.sign_off``, without running the gates twice)."""
    verified = cli(repo, "verify", "staging", "--json")
    report = json.loads(verified.stdout or "{}")
    gates = report.get("gates", {})
    assert verified.returncode == 0, {n: g["summary"] for n, g in gates.items()} or verified.stderr
    assert set(gates) >= GATES, sorted(gates)
    print("gates:", {name: gate["duration"] for name, gate in gates.items()})
    effects = gates["no-real-side-effects"]["evidence"]
    # the tasks wrote to the host's outbox, through the mount: the gate read it there
    assert {"payments", "email"} <= {r["kind"] for r in effects["outbox_records"]}
    outbox = json.loads(cli(repo, "outbox", "staging", "--json").stdout)
    assert {r["id"] for r in effects["outbox_records"]} <= {r["id"] for r in outbox}
    # it watched the tasks' own processes for connections (the shop's server, running in
    # a container of the host), not the front that holds the public port
    watched = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in effects["service_pids"]]
    assert any(b"uvicorn" in line for line in watched), watched
    assert not any(b"stageline.agent.front" in line for line in watched), watched
    # production's swarm front recorded its traffic: the load gate replayed it, A/B on
    # this host, on a scratch copy of staging's database under the tripwire
    load = gates["load"]["evidence"]
    assert load["peak_rps"] > 0 and "GET /healthz" in load["mix"], load.get("mix")
    assert load["baseline"] and load["candidate"] and "tripwire" in load
    for person in helpers.QA[1:]:
        ok(cli(repo, "approve", "staging", user=person))


def image_of(service: dict[str, object]) -> str:
    spec = service["Spec"]
    assert isinstance(spec, dict)
    return str(spec["TaskTemplate"]["ContainerSpec"]["Image"])


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_shop_on_swarm(shop_template: Path, swarm_engine: Engine) -> None:
    with local_registry() as registry, workspace_copy(shop_template, "stageline-swarm-") as shop:
        on_swarm(shop, swarm_engine, registry)
        made = [json.loads(cli(shop, "image", OLD, "--json").stdout) for _ in range(2)]
        assert made[0]["id"] == made[1]["id"] and not made[1]["built"]  # once
        assert made[0]["tag"].startswith("stageline/shop:1.6.0-")
        ok(cli(shop, "ship", OLD))
        assert image_of(service_of(shop, swarm_engine, "staging")) == made[0]["tag"]
        sign_off(shop)
        ok(cli(shop, "promote", "staging"))
        status = json.loads(cli(shop, "status", "--json").stdout)
        envs = {e["name"]: e for e in status["environments"]}
        url = envs["production"]["url"]

        with Load(url, pace=0.05) as load:
            ok(cli(shop, "ship", NEW))
            held = cli(shop, "promote", "staging")
            assert held.returncode != 0 and "held" in (held.stdout + held.stderr).lower()
            gates_pass_on_swarm(shop)
            staging_image = image_of(service_of(shop, swarm_engine, "staging"))
            images_before = swarm_engine.run(["images", "-q", "--no-trunc"]).split()
            ok(cli(shop, "promote", "staging"))
            production = service_of(shop, swarm_engine, "production")
            # the very image staging runs, pulled by digest from the registry: nothing built
            assert set(swarm_engine.run(["images", "-q", "--no-trunc"]).split()) == set(
                images_before
            )
            staging_id = swarm_engine.inspect("image", staging_image)[0]["Id"]
            production_id = swarm_engine.inspect("image", image_of(production))[0]["Id"]
            assert staging_id == production_id and "@sha256:" in image_of(production)
            spec_env = production["Spec"]["TaskTemplate"]["ContainerSpec"].get("Env", [])
            assert not any("sk_test_e2e" in v or "PAYMENT_API_KEY=" in v for v in spec_env)
            assert not any(re.search(r"://[^/@:]*:[^/@]+@", v) for v in spec_env)
            assert production["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]

            rolled = cli(shop, "rollback", "production", "--to", OLD, "--migrate")
            ok(rolled)
            after = service_of(shop, swarm_engine, "production")
            old_image = swarm_engine.inspect("image", image_of(after))[0]
            assert old_image["Config"]["Labels"]["org.opencontainers.image.version"] == "1.6.0"
        assert not load.failed, load.failed[:5]
        assert load.answered > 50, load.ok

        # a release whose health check fails: it never takes traffic, and it is recorded
        commit_and_tag(shop, BROKEN, {
            "src/shop/api.py": (
                "code = status.HTTP_200_OK if database_ok else",
                "code = status.HTTP_503_SERVICE_UNAVAILABLE if database_ok else",
            )
        })  # fmt: skip
        ok(cli(shop, "build", BROKEN))
        failed = cli(shop, "deploy", "staging", BROKEN, "--force")
        assert failed.returncode != 0 and "never took traffic" in failed.stderr, failed.stderr
        staging = json.loads(cli(shop, "status", "--json").stdout)
        serving = {e["name"]: e for e in staging["environments"]}["staging"]
        assert serving["version"] == "1.7.0rc1" and serving["health"] == "healthy"
        history = json.loads(cli(shop, "history", "staging", "--json").stdout)
        assert history[0]["status"] == "failed" and "never took traffic" in history[0]["detail"]
        assert history[0]["digest"] != serving["digest"]
