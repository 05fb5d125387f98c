"""Verify after every switch, with the real example service, agent and HTTP: a release
whose critical-path request fails (health passes) is switched back after deploy and after
rollback; a good one passes; ``after_deploy = []`` skips the checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli
from tests.e2e.test_zero_downtime import configure, digest_of

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
CHECK = """
[environments.development.gates.critical]
kind = "http"
timeout = 20
steps = [{{ name = "critical path", path = "/healthz", expect_json = {{ digest = "{digest}" }} }}]
"""


def expect_serving(repo: Path, tag: str) -> None:
    """Write development's critical-path check: it passes only on ``tag``'s release."""
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text()
    text = text.split("\n[environments.development.gates.critical]")[0]
    pipeline_file.write_text(text + CHECK.format(digest=digest_of(repo, tag)))


def set_after_deploy(repo: Path, value: str | None) -> None:
    pipeline_file = repo / "stageline.toml"
    lines = [
        line
        for line in pipeline_file.read_text().splitlines()
        if not line.startswith("after_deploy =")
    ]
    if value is not None:
        lines.insert(lines.index("[environments.development]") + 1, f"after_deploy = {value}")
    pipeline_file.write_text("\n".join(lines) + "\n")


def serving(url: str) -> str:
    digest: str = httpx.get(f"{url}/healthz", trust_env=False, timeout=10).json()["digest"]
    return digest


def history(repo: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(cli(repo, "history", "development", "--json").stdout)
    return found


def events(repo: Path) -> list[tuple[str, dict[str, Any]]]:
    with Session.open(repo) as session:
        return [(e.kind, e.data) for e in session.store.events("development")]


def test_blue_green_switches_back_after_a_failed_check_on_deploy_and_rollback(
    shop: Path,
) -> None:
    url = configure(shop, watch=60)
    old, new = digest_of(shop, OLD), digest_of(shop, NEW)
    expect_serving(shop, OLD)

    good = cli(shop, "deploy", "development", OLD)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "after-deploy checks passed: critical" in good.stdout
    assert (
        "after_deploy.passed",
        {"deployment": history(shop)[0]["id"], "checks": ["critical"]},
    ) in events(shop)

    bad = cli(shop, "deploy", "development", NEW)
    assert bad.returncode != 0
    assert "switching the previous release back" in bad.stdout
    error = bad.stderr.strip().splitlines()[0]
    assert error.startswith("error: ")
    assert "after-deploy check `critical` failed: critical path: expected JSON digest" in error
    assert error.endswith("the previous release serves again"), error
    assert serving(url) == old
    latest, before = history(shop)[:2]
    assert (latest["digest"], latest["status"]) == (new, "rolled_back")
    assert latest["detail"].startswith("after-deploy check `critical` failed: critical path")
    assert (before["digest"], before["status"]) == (old, "succeeded")
    failed = [data for kind, data in events(shop) if kind == "after_deploy.failed"]
    assert failed[-1]["check"] == "critical" and failed[-1]["switched_back"] is True

    set_after_deploy(shop, "[]")  # the checks are off: the same release goes through
    skipped = cli(shop, "deploy", "development", NEW)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "after-deploy" not in skipped.stdout and "checking" not in skipped.stdout
    assert serving(url) == new and history(shop)[0]["status"] == "succeeded"

    set_after_deploy(shop, '["critical"]')  # named: rollback runs it too
    expect_serving(shop, NEW)  # the older release fails the critical path now
    refused = cli(shop, "rollback", "development", "--keep-schema", "--json")
    assert refused.returncode != 0
    assert "the previous release serves again" in json.loads(refused.stdout)["error"]
    assert serving(url) == new
    latest = history(shop)[0]
    assert (latest["digest"], latest["status"], latest["kind"]) == (old, "rolled_back", "rollback")

    expect_serving(shop, OLD)  # now the older release is the good one
    rolled = cli(shop, "rollback", "development", "--keep-schema", "--json")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    checks = json.loads(rolled.stdout)["after_deploy"]
    assert checks == [{"name": "critical", "status": "passed", "summary": checks[0]["summary"]}]
    assert serving(url) == old and history(shop)[0]["status"] == "succeeded"


def test_restart_strategy_starts_the_previous_release_again_after_a_failed_check(
    shop: Path,
) -> None:
    pipeline_file = shop / "stageline.toml"
    pipeline_file.write_text(
        pipeline_file.read_text().replace("[defaults]\n", '[defaults]\nstrategy = "restart"\n', 1)
    )
    expect_serving(shop, OLD)
    with Session.open(shop) as session:
        url = session.pipeline().environment("development").url
    assert cli(shop, "deploy", "development", OLD).returncode == 0
    old, new = digest_of(shop, OLD), digest_of(shop, NEW)

    bad = cli(shop, "deploy", "development", NEW)

    assert bad.returncode != 0
    assert "after-deploy check `critical` failed" in bad.stderr
    assert "the previous release serves again" in bad.stderr
    assert serving(url) == old
    latest = history(shop)[0]
    assert (latest["digest"], latest["status"]) == (new, "rolled_back")
    assert "deploy.rolled_back" in [kind for kind, _ in events(shop)]
    status = json.loads(cli(shop, "status", "--json").stdout)
    development = next(e for e in status["environments"] if e["name"] == "development")
    assert development["digest"] == old
