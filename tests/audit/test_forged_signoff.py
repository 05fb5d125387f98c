"""The red team's break: rows inserted into `gate_runs` and `verdicts` with SQL made
`promote` allowed while `audit verify` said ok. Now verify names the first forged row and
exits 1, and the sign-off ignores the rows and holds, naming them (on constructed records;
tests/e2e/test_bound.py forges an approval of a real release and runs `promote`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from stageline.usecases import audit
from stageline.usecases.pipeline import Session
from stageline.usecases.verification import signoff_for
from tests.e2e.helpers import QA, cli
from tests.web.seed import seed

ANA, BEN, CHEN = QA


def forge(root: Path, digest: str) -> int:
    """What the red team did: the one missing gate run, and the two approvals; returns the
    forged gate run's id."""
    engine = create_engine(f"sqlite:///{root / '.stageline' / 'state.db'}")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO gate_runs (environment, digest, gate, kind, status, started_at,"
                " finished_at, duration, summary, evidence, actor) VALUES ('staging', :d,"
                " 'parity', 'parity', 'passed', :at, :at, 1.0, 'same', '{}', :who)"
            ),
            {"d": digest, "at": now, "who": ANA},
        )
        for person in (BEN, CHEN):
            conn.execute(
                text(
                    "INSERT INTO verdicts (environment, digest, person, kind, note, at)"
                    " VALUES ('staging', :d, :who, 'approve', 'lgtm', :at)"
                ),
                {"d": digest, "who": person, "at": now},
            )
        forged = conn.execute(text("SELECT max(id) FROM gate_runs")).scalar_one()
    engine.dispose()
    return int(forged)


def test_forged_rows_are_named_by_verify_and_ignored_by_the_sign_off(tmp_path: Path) -> None:
    seeded = seed(tmp_path)
    assert cli(seeded.root, "audit", "verify").returncode == 0
    forged = forge(seeded.root, seeded.new)

    verified = cli(seeded.root, "audit", "verify")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert f"gate_runs {forged} is not in the audit chain" in verified.stderr
    assert "and 2 more bad records" in verified.stderr

    with Session.open(seeded.root) as session:
        decision = signoff_for(session, "staging", "production")
        trusted = audit.trusted_records(session.store).trusted
    assert not decision.promote and decision.approvals_counted == ()
    assert decision.gates["parity"] == "missing"
    assert ("verdicts", 1) not in trusted and ("gate_runs", forged) not in trusted
    vouch = [h.reason for h in decision.holds if "does not vouch" in h.reason]
    assert len(vouch) == 3 and f"record of staging: gate_runs {forged} is not in" in vouch[0]
