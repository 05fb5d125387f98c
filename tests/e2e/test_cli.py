"""The CLI as people and scripts use it: JSON reports, exit codes, locks, the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.usecases.demo import TAGS
from tests.e2e.helpers import cli, workspace_copy

pytestmark = pytest.mark.slow
OLD, NEW = TAGS


def test_build_artifacts_show_verify_json(shop: Path) -> None:
    built = cli(shop, "build", NEW, "--json")
    assert built.returncode == 0, built.stderr
    record = json.loads(built.stdout)
    assert record["reused"] is True and record["version"] == "1.7.0rc1"
    digest = record["digest"]

    listed = json.loads(cli(shop, "artifacts", "--json").stdout)
    assert {a["tag"] for a in listed} == set(TAGS)

    shown = json.loads(cli(shop, "artifact", "show", digest[7:19], "--json").stdout)
    manifest = shown["manifest"]
    assert shown["digest"] == digest
    assert manifest["source"]["tag"] == NEW and manifest["pinned_from"] == "uv.lock"
    assert any(f["path"].startswith("bundle/migrations/") for f in manifest["files"])

    assert cli(shop, "artifact", "verify", NEW).returncode == 0
    (shop / ".stageline" / "artifacts" / digest[7:] / "bundle" / "extra.py").write_text("x\n")
    refused = cli(shop, "artifact", "verify", NEW)
    assert refused.returncode == 1
    assert "added: bundle/extra.py" in refused.stderr


def test_two_deploys_at_once_exactly_one_gets_the_lock(shop: Path) -> None:
    command = [sys.executable, "-m", "stageline", "deploy", "development", OLD, "-C", str(shop)]
    racers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(r.wait(300), r.stderr.read() if r.stderr else "") for r in racers]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], results
    loser = next(err for code, err in results if code == 3)
    assert "deploy:development is locked by" in loser and "since" in loser
    history = json.loads(cli(shop, "history", "development", "--json").stdout)
    assert [h["status"] for h in history] == ["succeeded"]


def test_demo_runs_green_again_over_a_previous_run(shop_template: Path) -> None:
    """A second ``stageline demo`` in the same folder stops what the first one left running
    (every environment), forgets its deployments, reuses its stored builds and runs the
    whole story green again. The first run, from nothing and on the demo's own ports, is
    the fresh-machine test's (tests/fresh: ``./run demo`` on a fresh Debian 12)."""
    # the demo's repository (the same commits, so the same digests) with both tags built,
    # on free ports (the demo keeps a repository's pipeline file as it is)
    with workspace_copy(shop_template, "stageline-demo-") as repo:
        for environment in ("development", "test", "staging", "production"):
            deployed = cli(repo, "deploy", environment, OLD, "--force")
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        result = subprocess.run(
            [sys.executable, "-m", "stageline", "demo", "--path", str(repo)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "stopped the previous demo's environments" in result.stdout
        assert result.stdout.count("reusing sha256:") == 2, result.stdout
        assert "stageline down" in result.stdout
        status = json.loads(cli(repo, "status", "--json").stdout)["environments"]
        assert [e["health"] for e in status] == ["healthy"] * 4
        assert {e["version"] for e in status} == {"1.7.0rc1"}
        assert len({e["digest"] for e in status}) == 1
