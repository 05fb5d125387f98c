"""run and up on the example shop: real PostgreSQL, agent and processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from stageline.config import load_pipeline
from stageline.usecases.demo import TAGS
from tests.e2e.helpers import cli

pytestmark = pytest.mark.slow
NEW = TAGS[1]

#: what the one-off command prints: a line from its stdin, its database, its Python
SHOW = (
    "import os, sys; print(input()); print(os.environ['DATABASE_URL']); print(sys.prefix);"
    " sys.exit(7)"
)


def run(repo: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """``stageline run development -C repo -- COMMAND`` (stageline's options before ``--``)."""
    return subprocess.run(
        [sys.executable, "-m", "stageline", "run", "development", "-C", str(repo), "--", *command],
        input="typed by a person\n",
        capture_output=True,
        text=True,
        timeout=300,
    )


def serving(repo: Path) -> str:
    """The digest development's service says it runs."""
    url = load_pipeline(repo).environment("development").url
    digest: str = httpx.get(f"{url}/healthz", trust_env=False, timeout=10).json()["digest"]
    return digest


def test_run_and_up_after_down_on_the_shop(shop: Path) -> None:
    """(``rollback --to TAG`` for real: tests/e2e/test_ship.py; names: tests/usecases.)"""
    deployed = cli(shop, "deploy", "development", NEW, "--json")
    assert deployed.returncode == 0, deployed.stderr
    new = json.loads(deployed.stdout)
    assert (new["tag"], new["release"]) == (NEW, NEW) and new["short"] == new["digest"][7:19]

    ran = run(shop, "python", "-c", SHOW)
    assert ran.returncode == 7, ran.stderr
    typed, database_url, prefix = ran.stdout.splitlines()
    assert typed == "typed by a person"  # stdin, stdout and the exit code are the command's
    assert database_url.startswith("postgresql://") and "127.0.0.1" in database_url
    assert Path(prefix).parts[-4:] == ("development", "releases", new["short"], "venv")

    assert cli(shop, "down", "development").returncode == 0
    with pytest.raises(httpx.HTTPError):
        serving(shop)
    up = cli(shop, "up", "development")
    assert up.returncode == 0, up.stderr
    assert f"development runs {NEW} (sha256:{new['short']}) again, healthy" in up.stdout
    assert serving(shop) == new["digest"]
