"""Gates and sign-off on the real example service: promote the same digest, or hold."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from stageline.usecases.demo import TAGS
from tests.e2e.helpers import QA, cli, commit_and_tag, staging_first

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
ANA, BEN, CHEN = QA


def staging_digest(repo: Path) -> str:
    status = json.loads(cli(repo, "status", "--json").stdout)
    return next(e["digest"] for e in status["environments"] if e["name"] == "staging")


def test_gates_pass_two_reviewers_promote_and_approvals_do_not_carry(
    shop: Path, tmp_path: Path
) -> None:
    staging_first(shop)
    assert cli(shop, "ship", OLD, user=ANA).returncode == 0  # ana put it in staging

    report = tmp_path / "junit.xml"
    verified = cli(shop, "verify", "staging", "--junit", str(report))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "0")
    names = {case.get("name") for case in suite.iter("testcase")}
    assert names == {"smoke", "integration", "no-real-side-effects", "migrations", "load", "parity"}

    held = cli(shop, "promote", "staging")
    assert held.returncode == 1
    assert "0 of 2 approvals" in held.stderr and "to clear:" in held.stderr

    own = cli(shop, "approve", "staging", user=ANA)
    assert own.returncode == 1 and "self-approval" in own.stderr
    stranger = cli(shop, "approve", "staging", user="zed@elsewhere.example")
    assert stranger.returncode == 1 and "not a reviewer" in stranger.stderr
    for person in (BEN, CHEN):
        assert cli(shop, "approve", "staging", "--note", "ok", user=person).returncode == 0

    digest = staging_digest(shop)
    promoted = cli(shop, "promote", "staging")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    production = json.loads(cli(shop, "status", "--json").stdout)["environments"][-1]
    assert production["digest"] == digest
    assert httpx.get(f"{production['url']}/healthz", timeout=5).json()["digest"] == digest

    # a new digest in staging needs its own gate runs and approvals
    assert cli(shop, "ship", NEW, user=ANA).returncode == 0
    assert staging_digest(shop) != digest
    held_again = cli(shop, "promote", "staging")
    assert held_again.returncode == 1
    assert "has not run" in held_again.stderr and "0 of 2 approvals" in held_again.stderr
    status = json.loads(cli(shop, "status", "--json").stdout)["signoff"]
    assert status["promote"] is False and status["approvals"]["people"] == []


def test_failing_smoke_test_holds_the_release_with_the_failing_request(shop: Path) -> None:
    staging_first(shop)
    commit_and_tag(shop, "v1.9.0", {"src/shop/api.py": ('"/products"', '"/catalogue"')})
    shipped = cli(shop, "ship", "v1.9.0")  # staging's smoke runs after the switch, too
    assert shipped.returncode == 3
    assert (
        "after-deploy check `smoke` failed: GET /products: expected status 200, got 404"
        in shipped.stderr
    )
    assert "it keeps serving: staging has no earlier release" in shipped.stderr
    verified = cli(shop, "verify", "staging")
    assert verified.returncode == 1
    assert "GET /products: expected status 200, got 404" in verified.stdout
    for person in (BEN, CHEN):
        assert cli(shop, "approve", "staging", user=person).returncode == 0
    held = cli(shop, "promote", "staging")
    assert held.returncode == 1
    assert "GET /products: expected status 200, got 404" in held.stderr
    assert json.loads(cli(shop, "history", "production", "--json").stdout) == []


def test_a_hanging_gate_is_stopped_at_its_timeout(shop: Path) -> None:
    staging_first(shop)
    pipeline_file = shop / "stageline.toml"
    pipeline_file.write_text(
        pipeline_file.read_text()
        + '\n[environments.staging.gates.hang]\nkind = "command"\nrun = "sleep 613"\ntimeout = 2\n'
    )
    assert cli(shop, "ship", OLD).returncode == 0
    result = cli(shop, "verify", "staging", "--gate", "hang", "--json")
    assert result.returncode == 1
    gate = json.loads(result.stdout)["gates"]["hang"]
    assert gate["status"] == "error" and "timed out" in gate["summary"]
    leftover = subprocess.run(["pgrep", "-f", "sleep 613"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_freeze_window_holds_promotion_and_override_is_audited(shop: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from stageline.usecases.pipeline import Session
    from tests.e2e.helpers import sign_off

    staging_first(shop)
    assert cli(shop, "ship", OLD).returncode == 0
    sign_off(shop)
    now = datetime.now(UTC).replace(microsecond=0)
    window = (
        "\n[[environments.production.freeze]]\n"
        f"start = {(now - timedelta(hours=1)).isoformat()}\n"
        f"end = {(now + timedelta(hours=1)).isoformat()}\n"
        'reason = "quarter-end close"\n'
    )
    pipeline_file = shop / "stageline.toml"
    pipeline_file.write_text(pipeline_file.read_text() + window)

    frozen = cli(shop, "promote", "staging")
    assert frozen.returncode == 1 and "quarter-end close" in frozen.stderr
    assert "--override-freeze" in frozen.stderr
    forced = cli(shop, "promote", "staging", "--override-freeze")
    assert forced.returncode == 0, forced.stderr
    with Session.open(shop) as session:
        kinds = [event.kind for event in session.store.events("production")]
    assert "freeze.override" in kinds
