"""run, up and releases by tag on the example shop: real PostgreSQL, agent and processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stageline.usecases.demo import TAGS
from tests.e2e.helpers import cli

pytestmark = pytest.mark.slow
OLD, NEW = TAGS

SHOW = "import os, sys; print(os.environ['DATABASE_URL']); print(sys.prefix); sys.exit(7)"


def run(repo: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``stageline run development -C repo -- COMMAND`` (stageline's options before ``--``)."""
    return subprocess.run(
        [sys.executable, "-m", "stageline", "run", "development", "-C", str(repo), "--", *command],
        capture_output=True,
        text=True,
        timeout=300,
    )


def serving(repo: Path) -> tuple[str, str]:
    """(the digest development's service says it runs, the health status reports)."""
    env = json.loads(cli(repo, "status", "--json").stdout)["environments"][0]
    digest: str = httpx.get(f"{env['url']}/healthz", trust_env=False, timeout=10).json()["digest"]
    return digest, env["health"]


def test_run_up_and_rollback_to_a_tag_on_the_shop(shop: Path) -> None:
    for tag in (OLD, NEW):
        deployed = cli(shop, "deploy", "development", tag, "--json")
        assert deployed.returncode == 0, deployed.stderr
    new = json.loads(deployed.stdout)
    assert (new["tag"], new["release"]) == (NEW, NEW) and new["short"] == new["digest"][7:19]

    ran = run(shop, "python", "-c", SHOW)
    assert ran.returncode == 7, ran.stderr  # its exit code is stageline's
    database_url, prefix = ran.stdout.splitlines()
    assert database_url.startswith("postgresql://") and "127.0.0.1" in database_url
    assert Path(prefix).parts[-4:] == ("development", "releases", new["short"], "venv")
    with_audit = json.loads(cli(shop, "audit", "development", "--json").stdout)
    finished = next(e for e in with_audit if e["kind"] == "run.finished")
    assert finished["data"]["exit"] == 7 and finished["digest"] == new["digest"]

    back = cli(shop, "rollback", "development", "--to", OLD, "--keep-schema", "--json")
    assert back.returncode == 0, back.stderr
    old = json.loads(back.stdout)
    assert old["tag"] == OLD and serving(shop) == (old["digest"], "healthy")

    assert cli(shop, "down", "development").returncode == 0
    stopped = json.loads(cli(shop, "status", "--json").stdout)["environments"][0]
    assert stopped["health"] == "down" and stopped["digest"] == old["digest"]
    up = cli(shop, "up", "development")
    assert up.returncode == 0, up.stderr
    assert f"development runs {OLD} (sha256:{old['short']}) again, healthy" in up.stdout
    assert serving(shop) == (old["digest"], "healthy")
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert [h["tag"] for h in history] == [OLD, NEW, OLD]
