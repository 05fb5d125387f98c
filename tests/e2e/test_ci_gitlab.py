"""The GitLab pipeline ``stageline ci init gitlab`` writes, run here end to end by
gitlab-ci-local in shell mode (this host plays the stageline host's shell runner): on a
version tag its jobs build the tag, ship it to staging and verify staging, with the
JUnit report, against a local state store (SQLite in the workspace's home).

To stay within the suite's budget the copy's pipeline starts at staging (development
and test cut out: one PostgreSQL started instead of three); shipping through all four
tiers is tests/e2e/test_ship.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stageline.ci.init import init
from stageline.usecases.demo import TAGS
from tests.ci.tools import GITLAB_CI_LOCAL, node_tools
from tests.e2e.helpers import cli, workspace_copy

pytestmark = pytest.mark.slow
TAG = TAGS[1]


def gitlab_ci_local(repo: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    """Run the pipeline with ``stageline`` from this checkout first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("STAGELINE_DATABASE_URL", None)  # the local store: SQLite in STAGELINE_HOME
    args = [arg for variable in variables for arg in ("--variable", variable)]
    return subprocess.run(
        [str(GITLAB_CI_LOCAL), *args], cwd=repo, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip


def from_staging(repo: Path) -> None:
    """Cut the environments before staging out of ``repo``'s pipeline file."""
    path = repo / "stageline.toml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("[environments.development]"), text.index("[environments.staging]")
    path.write_text(text[:start] + text[end:], encoding="utf-8")


def test_the_tag_pipeline_builds_ships_to_staging_and_verifies(shop_template: Path) -> None:
    node_tools()
    with workspace_copy(shop_template, prefix="stageline-ci-") as repo:
        from_staging(repo)
        init(repo, "gitlab")
        ran = gitlab_ci_local(repo, f"CI_COMMIT_TAG={TAG}", f"STAGELINE_HOME={repo / '.stageline'}")
        log = ran.stdout + ran.stderr
        assert ran.returncode == 0, log[-4000:]
        for job in ("build", "ship", "verify"):
            assert f" PASS  {job}" in log, log[-4000:]

        report = ET.parse(repo / "stageline-junit.xml").getroot()
        suite = report.find("testsuite")
        assert suite is not None and suite.get("name") == "stageline.staging"
        assert (report.get("failures"), report.get("errors")) == ("0", "0")
        gates = {case.get("name") for case in suite.iter("testcase")}
        assert {"smoke", "integration", "migrations"} <= gates, gates
        digest = {p.get("name"): p.get("value") for p in suite.iter("property")}["digest"]

        shown = cli(repo, "status", "--json")
        assert shown.returncode == 0, shown.stderr
        envs = {env["name"]: env for env in json.loads(shown.stdout)["environments"]}
        assert list(envs) == ["staging", "production"]
        assert envs["staging"]["digest"] == digest
        assert envs["staging"]["health"] == "healthy"
        assert envs["production"]["digest"] is None  # promotion into it stays a person's
