"""The file `stageline init` writes for the shop ships it: built from the tag, deployed
through every automatic tier, and staging's gates (smoke on the health route it found,
the migration rehearsal with the tool it found) pass. No edit of the file but free ports."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from stageline.usecases.demo import example_source
from tests.e2e.helpers import cli, commit_and_tag, own_tmp, stop_everything, use_free_ports

pytestmark = pytest.mark.slow


def test_the_file_init_writes_ships_the_shop() -> None:
    folder = own_tmp("stageline-init-")
    repo = folder / "shop"
    leave_out = shutil.ignore_patterns(
        ".venv", "__pycache__", "*.pyc", ".stageline", "versions_next", "stageline.toml"
    )
    shutil.copytree(example_source(), repo, ignore=leave_out)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    try:
        written = cli(repo, "init")
        assert written.returncode == 0, written.stderr
        ports = use_free_ports(repo / "stageline.toml")
        commit_and_tag(repo, "v1.0.0", {})
        shipped = cli(repo, "ship", "v1.0.0")
        assert shipped.returncode == 0, shipped.stdout + shipped.stderr
        health = httpx.get(f"http://127.0.0.1:{ports['staging']}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        verified = cli(repo, "verify", "staging", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert '"smoke"' in verified.stdout and '"migrations"' in verified.stdout
    finally:
        try:
            stop_everything(repo)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
