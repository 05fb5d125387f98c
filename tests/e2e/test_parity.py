"""Parity on the real example service: two environments that differ only in PostgreSQL's
major version (embedded pgserver 16, Debian's 15 on PATH), then two equal ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stageline.services.postgres import free_port
from stageline.usecases import deploy as usecases
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import PAYMENT_KEY, cli

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
STAGING_KEY = "sk_staging_parity_7d2e"
VARS = (
    'vars = { PAYMENT_URL = "https://payments.example.invalid/", '
    'EMAIL_URL = "https://mail.example.invalid/" }'
)


def two_environments(repo: Path, staging_postgres: str = "", extra: str = "") -> None:
    """Rewrite the example's pipeline as staging -> production, alike but for the given."""
    pipeline = repo / "stageline.toml"
    head = pipeline.read_text().split("# --- the four tiers")[0]
    pipeline.write_text(
        head
        + f"""
[environments.staging]
tier = "staging"
target = {{ kind = "local", port = {free_port()} }}
secrets = ["PAYMENT_API_KEY"]
{VARS}
{staging_postgres}
[environments.staging.gates.parity]
kind = "parity"

[environments.production]
tier = "production"
target = {{ kind = "local", port = {free_port()} }}
secrets = ["PAYMENT_API_KEY"]
{VARS}
{extra}
"""
    )


def run(repo: Path, *args: str, seen: list[str], code: int | None = 0) -> str:
    result = cli(repo, *args)
    seen += [result.stdout, result.stderr]
    if code is not None:
        assert result.returncode == code, result.stdout + result.stderr
    return result.stdout + result.stderr


def deploy(repo: Path, *pairs: tuple[str, str], force: bool = False) -> None:
    """Deploy in-process (the setup; the commands under test run as the CLI)."""
    with Session.open(repo) as session:
        for environment, tag in pairs:
            usecases.deploy(session, environment, tag, force=force)


def deploy_both(repo: Path, seen: list[str]) -> None:
    deploy(repo, ("staging", OLD))
    # production's entry holds on staging's sign-off, which these tests examine later:
    # the setup breaks glass (the unwritten access rule lets it)
    deploy(repo, ("production", OLD), force=True)


def test_postgres_major_drift_blocks_holds_and_an_allowed_difference_passes(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_SECRET_STAGING_PAYMENT_API_KEY", STAGING_KEY)
    monkeypatch.setenv("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", PAYMENT_KEY)
    monkeypatch.setenv("COLUMNS", "250")  # table cells unwrapped
    two_environments(
        shop, '[environments.staging.services.postgres]\nversion = 15\nprovider = "system"\n'
    )
    seen: list[str] = []
    deploy_both(shop, seen)

    report = json.loads(run(shop, "parity", "--json", seen=seen, code=1).split("\nerror:")[0])
    comparison = report["comparison"]
    assert (report["a"], report["b"], comparison["ok"]) == ("staging", "production", False)
    blocking = [r for r in comparison["rows"] if r["severity"] == "blocking"]
    assert [(r["layer"], r["key"]) for r in blocking] == [("postgres", "version")]
    assert (blocking[0]["a"].split(".")[0], blocking[0]["b"].split(".")[0]) == ("15", "16")
    assert all(r["equal"] for r in comparison["rows"] if r["layer"] in ("python", "packages"))

    verified = run(shop, "verify", "staging", seen=seen, code=1)
    assert "parity: failed" in verified and "different PostgreSQL major version" in verified
    held = run(shop, "promote", "staging", seen=seen, code=1)
    assert "held in staging" in held and "postgres version: staging 15" in held

    pipeline = shop / "stageline.toml"
    pipeline.write_text(
        pipeline.read_text()
        + "\n[environments.staging.parity]\n"
        + 'allow = [{ layer = "postgres", key = "version", reason = "PG 15 until the '
        + 'January upgrade" }]\n'
    )
    text = run(shop, "parity", seen=seen)
    assert "allowed" in text and "PG 15 until the January upgrade" in text
    assert "no blocking drift between staging and production, 1 allowed" in text
    passed = run(shop, "verify", "staging", "--json", seen=seen)
    assert json.loads(passed)["gates"]["parity"]["status"] == "passed"

    evidence = "".join(p.read_text() for p in (shop / ".stageline").rglob("evidence/**/*.log"))
    for output in [*seen, evidence]:
        for value in (STAGING_KEY, PAYMENT_KEY, "payments.example.invalid", "postgresql://"):
            assert value not in output


def test_equal_environments_show_every_row_equal_then_the_time_gap(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("STAGELINE_SECRET_STAGING_PAYMENT_API_KEY", STAGING_KEY)
    monkeypatch.setenv("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", PAYMENT_KEY)
    (shop / "infra").mkdir()
    (shop / "infra" / "main.tf").write_text('resource "null_resource" "shop" {}\n')
    infra = '[environments.NAME.parity]\ninfrastructure = { terraform = "infra" }\n'
    two_environments(
        shop,
        infra.replace("NAME", "staging"),
        infra.replace("NAME", "production"),
    )
    seen: list[str] = []
    deploy_both(shop, seen)
    report = json.loads(run(shop, "parity", "staging", "production", "--json", seen=seen))
    rows = report["comparison"]["rows"]
    assert rows and all(r["equal"] and r["severity"] == "-" for r in rows), rows
    layers = {r["layer"] for r in rows}
    assert layers == {
        "os", "python", "packages", "artifact", "postgres", "variables", "overrides",
        "infrastructure",
    }  # fmt: skip
    assert next(r for r in rows if r["layer"] == "infrastructure")["key"] == "terraform"
    assert report["time_gap"]["versions"] == []

    deploy(shop, ("staging", NEW))
    status = json.loads(run(shop, "status", "--json", seen=seen))
    gap = status["time_gap"]
    assert [v["version"] for v in gap["versions"]] == ["1.7.0rc1"] and gap["commits"] == 1
    text = run(shop, "parity", seen=seen)
    assert "staging is 1 version(s), 1 commit(s) ahead of production" in text
    assert "different releases" in text and "no blocking drift" in text
