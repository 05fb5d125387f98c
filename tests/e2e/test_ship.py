"""Four tiers on this host, with the real example service, its own PostgreSQL per tier."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from stageline.usecases import deploy
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli, sign_off

pytestmark = pytest.mark.slow
OLD, NEW = TAGS


def healthz(url: str) -> dict[str, object]:
    answer = httpx.get(f"{url}/healthz", timeout=5)
    assert answer.status_code == 200, answer.text
    data: dict[str, object] = answer.json()
    return data


def status_of(repo: Path) -> dict[str, dict[str, object]]:
    result = cli(repo, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {env["name"]: env for env in json.loads(result.stdout)["environments"]}


def test_four_tiers_promotion_same_digest_and_rollback(shop: Path) -> None:
    for tag in TAGS:
        shipped = cli(shop, "ship", tag)
        assert shipped.returncode == 0, shipped.stdout + shipped.stderr
        sign_off(shop)
        promoted = cli(shop, "promote", "staging")
        assert promoted.returncode == 0, promoted.stdout + promoted.stderr

    envs = status_of(shop)
    assert list(envs) == ["development", "test", "staging", "production"]
    digests = {name: env["digest"] for name, env in envs.items()}
    assert len(set(digests.values())) == 1, digests
    assert all(env["health"] == "healthy" and env["version"] == "1.7.0rc1" for env in envs.values())

    production = healthz(str(envs["production"]["url"]))
    assert production["digest"] == envs["staging"]["digest"]
    assert production["environment"] == "production"
    # each tier has its own database: an order in staging does not appear in production
    order = httpx.post(
        f"{envs['staging']['url']}/orders",
        timeout=5,
        json={"customer_email": "qa@example.com", "lines": [{"sku": "TEA-001", "quantity": 1}]},
    )
    if order.status_code == 404:  # the seed data names its own SKUs; take the first product
        sku = httpx.get(f"{envs['staging']['url']}/products", timeout=5).json()[0]["sku"]
        order = httpx.post(
            f"{envs['staging']['url']}/orders",
            timeout=5,
            json={"customer_email": "qa@example.com", "lines": [{"sku": sku, "quantity": 1}]},
        )
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert httpx.get(f"{envs['production']['url']}/orders/{order_id}", timeout=5).status_code == 404

    environment = json.loads(cli(shop, "env", "staging", "--json").stdout)
    assert (
        environment["APP_ENV"] == "staging"
        and environment["STAGELINE_DIGEST"] == digests["staging"]
    )
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert (
        environment["DATABASE_URL"]
        != json.loads(cli(shop, "env", "production", "--json").stdout)["DATABASE_URL"]
    )
    logs = cli(shop, "logs", "production", "-n", "200")
    assert logs.returncode == 0 and "Application startup complete" in logs.stdout

    # production's database is at 1.7.0rc1's schema: a rollback says so, --migrate
    # downgrades it with 1.7.0rc1's own alembic (the path staging's rehearsal proved)
    refused = cli(shop, "rollback", "production", "--to", "1.6.0")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "0002_order_notes" in refused.stderr and "0001_initial" in refused.stderr
    assert "rehearsal.txt" in refused.stderr
    rolled = cli(shop, "rollback", "production", "--to", "v1.6.0", "--migrate")  # by tag
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    after = status_of(shop)["production"]
    assert after["version"] == "1.6.0" and after["health"] == "healthy"
    assert after["tag"] == "v1.6.0" and "production runs v1.6.0 (sha256:" in rolled.stdout
    assert healthz(str(after["url"]))["digest"] == after["digest"] != digests["production"]

    history = json.loads(cli(shop, "history", "production", "--json").stdout)
    assert [h["kind"] for h in history] == ["rollback", "promote", "promote"]
    assert [h["schema_revision"] for h in history] == [
        "0001_initial",
        "0002_order_notes",
        "0001_initial",
    ]
    assert all(h["status"] == "succeeded" for h in history)


def test_new_artifacts_enter_at_the_first_environment(shop: Path) -> None:
    refused = cli(shop, "deploy", "staging", OLD)
    assert refused.returncode == 1
    assert "has not run in test" in refused.stderr and "--force" in refused.stderr
    forced = cli(shop, "deploy", "staging", OLD, "--force")
    assert forced.returncode == 0, forced.stderr
    history = json.loads(cli(shop, "history", "staging", "--json").stdout)
    assert history[0]["kind"] == "force"
    with Session.open(shop) as session:
        kinds = [e.kind for e in session.store.events("staging")]
    assert "deploy.break_glass" in kinds and "deploy.held" in kinds


def test_killed_service_is_brought_back_by_the_agent(shop: Path) -> None:
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    with Session.open(shop) as session:
        pipe = session.pipeline()
        target = session.target(pipe.environment("development"), "shop")
        before = target.status()
        assert before is not None and before.pid is not None
        os.killpg(before.pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        after = target.status()
        while time.monotonic() < deadline:
            after = target.status()
            if after and after.pid not in (None, before.pid) and after.healthy:
                break
            time.sleep(0.2)
    assert after is not None and after.pid != before.pid and after.restarts >= 1
    assert healthz(pipe.environment("development").url)["status"] == "ok"


@pytest.mark.parametrize(
    ("broken", "edit", "expected"),
    [
        (
            "health check fails",
            ('health = "/healthz"', 'health = "/nope"'),
            "did not start in development",
        ),
        (
            "crashes on start",
            ('start = "uvicorn shop.app:app', 'start = "uvicorn shop.nowhere:app'),
            "did not start in development",
        ),
        (
            "release command fails",
            ('release = "alembic upgrade head"', 'release = "alembic upgrade no_such_revision"'),
            "release command `alembic upgrade no_such_revision` failed",
        ),
    ],
)
def test_a_failed_deploy_leaves_the_previous_release_serving(
    shop: Path, broken: str, edit: tuple[str, str], expected: str
) -> None:
    from tests.e2e.helpers import commit_and_tag

    assert cli(shop, "deploy", "development", OLD).returncode == 0
    with Session.open(shop) as session:
        env = session.pipeline().environment("development")
        target = session.target(env, "shop")
        pid_before = target.status().pid  # type: ignore[union-attr]
    good = healthz(env.url)
    commit_and_tag(shop, "v1.9.0", {"stageline.toml": edit})
    # the operator's pipeline file (not the release) sets how long a health check may take
    pipeline_file = shop / "stageline.toml"
    text = pipeline_file.read_text()
    pipeline_file.write_text(text.replace("[defaults]\n", "[defaults]\nhealth_timeout = 8\n", 1))

    failed = cli(shop, "deploy", "development", "v1.9.0")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert expected in failed.stderr
    assert len([line for line in failed.stderr.splitlines() if line.startswith("error:")]) == 1

    assert healthz(env.url)["digest"] == good["digest"]
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert history[0]["status"] == "failed" and expected in history[0]["detail"]
    assert history[1]["status"] == "succeeded"
    if broken == "release command fails":  # nothing was switched: the same process serves
        with Session.open(shop) as session:
            assert session.target(env, "shop").status().pid == pid_before  # type: ignore[union-attr]


def test_tampered_artifact_is_refused_before_anything_runs(shop: Path) -> None:
    with Session.open(shop) as session:
        record = deploy.resolve_artifact(session, OLD)
        wheels = session.artifacts.path_for(record.digest) / "wheels"
        victim = sorted(wheels.glob("shop-*.whl"))[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))

    result = cli(shop, "deploy", "development", OLD)
    assert result.returncode == 1
    assert f"changed: wheels/{victim.name}" in result.stderr
    assert not (shop / ".stageline" / "envs" / "development" / "releases").exists()
    assert not (shop / ".stageline" / "agent" / "agent.sock").exists()


def test_unknown_tag_is_a_one_line_usage_error(shop: Path) -> None:
    result = cli(shop, "deploy", "development", "v9.9.9")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "v9.9.9" in result.stderr
    assert "v1.7.0-rc1" in result.stderr  # the hint lists recent tags


def test_busy_port_is_reported(shop: Path) -> None:
    import socket

    with Session.open(shop) as session:
        port = session.pipeline().environment("development").target.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = cli(shop, "deploy", "development", OLD)
    assert result.returncode == 3
    assert f"port {port}" in result.stderr and "in use" in result.stderr
