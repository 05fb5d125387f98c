"""Decisions bound to what serves, and only chained decisions count, on the real example.

The red team: after a killed deploy, `verify` and `approve` recorded against the old
digest while the new one served; and approval rows inserted with SQL made `promote`
allowed while `audit verify` said ok. A deploy command killed between the switch and its
record leaves the store exactly as this test leaves it: the new release serving, its
deployment still ``in_progress``, the old one the latest succeeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import QA, cli, staging_first
from tests.e2e.test_entry import SIGNOFF, UP, digest_of, serving, staging_gates

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
ANA, BEN, CHEN = QA


def sql(repo: Path, statement: str, **params: object) -> None:
    with Session.open(repo) as session:
        url = session.store.url
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(statement), params)
    engine.dispose()


def stored(repo: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(person, digest) of staging's verdicts, (gate, digest) of its gate runs."""
    with Session.open(repo) as session:
        verdicts = [(v.person, v.digest) for v in session.store.verdicts("staging")]
        runs = [(r.gate, r.digest) for r in session.store.gate_runs("staging")]
    return verdicts, runs


def test_after_a_killed_deploy_decisions_bind_to_the_serving_digest(shop: Path) -> None:
    staging_first(shop)
    staging_gates(shop, UP, SIGNOFF)
    assert cli(shop, "ship", OLD, user=ANA).returncode == 0
    assert cli(shop, "ship", NEW, user=ANA).returncode == 0
    old, new = digest_of(shop, OLD), digest_of(shop, NEW)
    assert serving(shop, "staging") == new
    sql(
        shop,
        "UPDATE deployments SET status = 'in_progress', finished_at = NULL WHERE id ="
        " (SELECT max(id) FROM deployments WHERE environment = 'staging')",
    )  # the deploy command died after the switch
    before = stored(shop)

    for args, who in (
        (("approve", "staging", "--digest", old), BEN),
        (("verify", "staging", "--digest", old[7:20]), ANA),
    ):
        refused = cli(shop, *args, user=who)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"{old[:19]} in staging: {new[:19]} serves there now" in refused.stderr
        assert "nothing was recorded" in refused.stderr
    assert stored(shop) == before

    approved = cli(shop, "approve", "staging", user=BEN)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert f"approving shop {new[7:19]} on staging" in approved.stdout
    verified = cli(shop, "verify", "staging", "--digest", new, user=ANA)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verdicts, runs = stored(shop)
    assert verdicts == [(BEN, new)] and runs[0] == ("up", new)
    history = json.loads(cli(shop, "history", "staging", "--json").stdout)
    assert (history[0]["digest"], history[0]["status"]) == (new, "succeeded")  # settled

    # a forged second approval: named by audit verify, ignored and holding by the sign-off
    sql(
        shop,
        "INSERT INTO verdicts (environment, digest, person, kind, note, at)"
        " VALUES ('staging', :d, :who, 'approve', '', CURRENT_TIMESTAMP)",
        d=new,
        who=CHEN,
    )
    audit = cli(shop, "audit", "verify")
    assert audit.returncode == 1 and "verdicts 2 is not in the audit chain" in audit.stderr
    held = cli(shop, "promote", "staging", user=ANA)
    assert held.returncode == 1, held.stdout + held.stderr
    assert "1 of 2 approvals" in held.stderr
    assert "does not vouch for a record of staging: verdicts 2" in held.stderr
    assert json.loads(cli(shop, "history", "production", "--json").stdout) == []

    # the forgery gone and the real approval given, the same digest goes on
    sql(shop, "DELETE FROM verdicts WHERE id = 2")
    assert cli(shop, "audit", "verify").returncode == 0
    assert cli(shop, "approve", "staging", "--digest", new[7:15], user=CHEN).returncode == 0
    promoted = cli(shop, "promote", "staging", user=ANA)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert serving(shop, "production") == new
