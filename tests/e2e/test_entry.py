"""One decision for every way into an environment, on the real example service.

``deploy ENV REF`` and ``promote SOURCE --to LATER`` hold on the sign-off of every gated
environment before the target, exactly as ``promote`` does; ``--force`` is break-glass
(its own access rule, audited, shown as such); ``--dry-run`` prints the same holds; and a
gate deleted from the pipeline file after ``verify`` holds the promotion by name.

Staging's gates are replaced by cheap ``command`` gates: what is under test is the
decision, not the gates (tests/e2e/test_signoff.py runs the real ones).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import QA, cli, staging_first

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
ANA = QA[0]
OLGA = "olga@shop.example"  # may break glass in production
ZED = "zed@shop.example"  # may deploy, may not break glass

UP = '[environments.staging.gates.up]\nkind = "command"\nrun = "true"\n'
BROKEN = '[environments.staging.gates.broken]\nkind = "command"\nrun = "false"\n'
SIGNOFF = (
    '[environments.staging.gates.signoff]\nkind = "approval"\nrequired = 2\n'
    'reviewers = ["group:qa"]\n'
)


def staging_gates(repo: Path, *gates: str, extra: str = "") -> None:
    """Replace staging's gates in the example's pipeline file with ``gates``."""
    pipeline = repo / "stageline.toml"
    text = pipeline.read_text()
    start = text.index("[environments.staging.gates.smoke]")
    end = text.index("[environments.staging.parity]")
    pipeline.write_text(text[:start] + "\n".join(gates) + "\n" + text[end:] + extra)


def serving(repo: Path, environment: str) -> str:
    status = json.loads(cli(repo, "status", "--json").stdout)
    url = next(e["url"] for e in status["environments"] if e["name"] == environment)
    digest: str = httpx.get(f"{url}/healthz", timeout=5).json()["digest"]
    return digest


def digest_of(repo: Path, tag: str) -> str:
    listed = json.loads(cli(repo, "artifacts", "--json").stdout)
    return next(a["digest"] for a in listed if a["tag"] == tag)


def hold_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.strip().startswith("hold ")]


def events(repo: Path, environment: str) -> list[tuple[str, dict[str, object]]]:
    with Session.open(repo) as session:
        return [(e.kind, e.data) for e in reversed(session.store.events(environment))]


def test_deploy_into_production_holds_on_staging_and_force_is_break_glass(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # table cells and lines unwrapped
    access = f'\n[environments.production.access]\nforce = ["{OLGA}"]\n'
    staging_first(shop)
    staging_gates(shop, UP, SIGNOFF, extra=access)
    # setup: production on the old release, by break-glass (nothing signed it off)
    assert cli(shop, "deploy", "production", OLD, "--force", user=OLGA).returncode == 0
    old = serving(shop, "production")
    assert cli(shop, "ship", NEW, user=ANA).returncode == 0
    verified = cli(shop, "verify", "staging")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    new = digest_of(shop, NEW)
    assert serving(shop, "staging") == new != old

    held = cli(shop, "deploy", "production", NEW, user=ZED)
    assert held.returncode == 1, held.stdout + held.stderr
    assert "is held in staging: 0 of 2 approvals" in held.stderr
    assert "to clear:" in held.stderr and "stageline approve staging" in held.stderr
    assert serving(shop, "production") == old  # production keeps serving the old digest
    history = json.loads(cli(shop, "history", "production", "--json").stdout)
    assert [(h["kind"], h["digest"]) for h in history] == [("force", old)]
    assert ("deploy.held", {"holds": [hold_lines(held.stderr)[0][5:]], "gated": ["staging"]}) in (
        events(shop, "production")
    )

    dry = cli(shop, "deploy", "production", NEW, "--dry-run", user=ZED)
    assert dry.returncode == 1  # a dry run that would hold says so the same way
    assert "held: 1 reason" in dry.stdout
    assert hold_lines(dry.stderr) == hold_lines(held.stderr) != []
    dry_json = json.loads(cli(shop, "deploy", "production", NEW, "--dry-run", "--json").stdout)
    assert dry_json["allowed"] is False and dry_json["gated"] == ["staging"]
    assert [h["reason"] for h in dry_json["holds"]] == [hold_lines(held.stderr)[0][5:]]

    refused = cli(shop, "deploy", "production", NEW, "--force", user=ZED)
    assert refused.returncode == 1
    assert f"production.access.force allows {OLGA}; {ZED} is not in it" in refused.stderr
    assert serving(shop, "production") == old

    forced = cli(shop, "deploy", "production", NEW, "--force", user=OLGA)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "healthy as break-glass (audited)" in forced.stdout
    assert serving(shop, "production") == new
    table = cli(shop, "history", "production").stdout
    assert table.count("break-glass") == 2
    history = json.loads(cli(shop, "history", "production", "--json").stdout)
    assert (history[0]["kind"], history[0]["digest"], history[0]["actor"]) == ("force", new, OLGA)
    glass = [data for kind, data in events(shop, "production") if kind == "deploy.break_glass"]
    assert glass[-1]["deployment"] == history[0]["id"]
    assert glass[-1]["gated"] == ["staging"]
    overrode = glass[-1]["overrode"]
    assert isinstance(overrode, list)
    assert any(re.match(r"0 of 2 approvals for sha256:", reason) for reason in overrode)
    refusals = [data for kind, data in events(shop, "production") if kind == "access.refused"]
    assert [r["rule"] for r in refusals] == ["production.access.force"]


def test_promotion_past_staging_and_a_gate_deleted_after_verify_both_hold(shop: Path) -> None:
    staging_gates(shop, UP, BROKEN)
    assert cli(shop, "ship", OLD).returncode == 0
    digest = serving(shop, "staging")

    # test -> production: staging's sign-off counts although staging is skipped
    skipped = cli(shop, "promote", "test", "--to", "production")
    assert skipped.returncode == 1
    assert f"is held in staging: gate up has not run for {digest[:19]}" in skipped.stderr
    assert f"gate broken has not run for {digest[:19]}" in skipped.stderr

    assert cli(shop, "verify", "staging").returncode == 1  # broken fails
    failed = cli(shop, "promote", "staging")
    assert failed.returncode == 1 and "gate broken failed" in failed.stderr

    pipeline = shop / "stageline.toml"
    pipeline.write_text(pipeline.read_text().replace(BROKEN, ""))  # delete the failed gate
    deleted = cli(shop, "promote", "staging")
    assert deleted.returncode == 1, deleted.stdout + deleted.stderr
    assert "gate `broken` removed since verify at" in deleted.stderr
    assert "stageline verify staging" in deleted.stderr
    assert cli(shop, "promote", "staging").returncode == 1  # still held; noticed once
    changed = [data for kind, data in events(shop, "staging") if kind == "gates.changed"]
    assert len(changed) == 1 and changed[0]["changed"] == ["gate `broken` removed"]
    assert json.loads(cli(shop, "history", "production", "--json").stdout) == []

    # the way out: verify under the gates as they are now
    assert cli(shop, "verify", "staging").returncode == 0
    promoted = cli(shop, "promote", "staging")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert serving(shop, "production") == digest
