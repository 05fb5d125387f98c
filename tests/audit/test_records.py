"""Decisions in the chain: gate runs and verdicts written around stageline, altered,
removed or reverted are named by `audit verify` and left out of the sign-off, on both
backends; an old store's rows are chained once by the migration."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine

from stageline.state import ArtifactRecord, Store
from stageline.state.store import _make_engine, _parse_url, alembic_config
from stageline.usecases import audit
from tests.audit.raw import sql

DIGEST = "sha256:" + "ab" * 32
NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def artifact(store: Store) -> None:
    store.add_artifact(
        ArtifactRecord(
            DIGEST, "shop", "1.0", "v1.0", "v1.0", "c" * 40, NOW, NOW, "ci", "h", 1, "/x"
        )
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store with one chained gate run (id 1), approval (1) and withdrawn rejection (2)."""
    with Store.open(store_url) as opened:
        artifact(opened)
        opened.record_gate_run(
            "staging", DIGEST, "smoke", kind="http", status="failed", started_at=NOW,
            duration=0.5, summary="500 on /", evidence={"n": 1}, report_path=None, actor="ci",
        )  # fmt: skip
        opened.add_verdict("staging", DIGEST, person="ana@shop.example", kind="approve")
        opened.add_verdict("staging", DIGEST, person="ben@shop.example", kind="reject", note="no")
        assert opened.withdraw_verdicts("staging", DIGEST, person="ben@shop.example", kind="reject")
        yield opened


def only_problem(store: Store) -> audit.RecordProblem:
    report = audit.verify(store)
    assert report.broken is None and not report.ok
    assert len(report.records) == 1, report.records
    return report.records[0]


def test_chained_decisions_verify(store: Store) -> None:
    report = audit.verify(store)
    assert report.ok and report.rows == 3 and not report.empty
    kinds = [e.kind for e in store.events(limit=10)]
    assert kinds == ["reject.withdrawn", "reject.given", "approve.given", "gate.failed"]
    assert audit.trusted_records(store).trusted == {
        ("gate_runs", 1),
        ("verdicts", 1),
        ("verdicts", 2),
    }


def test_a_forged_approval_row_is_named_and_not_trusted(store: Store, raw: Engine) -> None:
    sql(
        raw,
        "INSERT INTO verdicts (id, environment, digest, person, kind, note, at)"
        " VALUES (7, 'staging', :d, 'mallory@shop.example', 'approve', '', :at)",
        d=DIGEST,
        at=NOW.replace(tzinfo=None) if raw.dialect.name == "sqlite" else NOW,
    )
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("unchained", "verdicts", 7)
    assert problem.message == "verdicts 7 is not in the audit chain: no event recorded it"
    assert ("verdicts", 7) not in audit.trusted_records(store).trusted


def test_a_forged_row_borrowing_a_real_event_is_named(store: Store, raw: Engine) -> None:
    real = store.events(limit=10)[-2].hash  # approve.given of verdicts 1
    sql(
        raw,
        "INSERT INTO verdicts (id, environment, digest, person, kind, note, at, event_hash)"
        " VALUES (8, 'staging', :d, 'mallory@shop.example', 'approve', '', :at, :h)",
        d=DIGEST,
        at=NOW.replace(tzinfo=None) if raw.dialect.name == "sqlite" else NOW,
        h=real,
    )
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("altered", "verdicts", 8)
    assert "recorded verdicts 1" in problem.message


def test_a_made_up_event_hash_is_forged(store: Store, raw: Engine) -> None:
    sql(raw, "UPDATE gate_runs SET status = 'passed', event_hash = :h WHERE id = 1", h="e" * 64)
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("forged", "gate_runs", 1)


def test_an_edited_gate_run_is_named(store: Store, raw: Engine) -> None:
    sql(raw, "UPDATE gate_runs SET status = 'passed' WHERE id = 1")
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("altered", "gate_runs", 1)
    assert "does not give the hash event 1 recorded" in problem.message


def test_a_deleted_rejection_is_named(store: Store, raw: Engine) -> None:
    sql(raw, "DELETE FROM verdicts WHERE id = 2")
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("removed", "verdicts", 2)
    assert problem.digest == DIGEST and "event 4 (reject.withdrawn)" in problem.message


def test_an_undone_withdrawal_is_named(store: Store, raw: Engine) -> None:
    given = store.events(limit=10)[1]  # reject.given: it vouched for the row before
    sql(raw, "UPDATE verdicts SET withdrawn_at = NULL, event_hash = :h WHERE id = 2", h=given.hash)
    problem = only_problem(store)
    assert (problem.problem, problem.table, problem.id) == ("reverted", "verdicts", 2)


def test_rows_after_a_chain_break_are_not_trusted(store: Store, raw: Engine) -> None:
    sql(raw, "UPDATE events SET actor = 'mallory' WHERE id = 2")
    report = audit.verify(store)
    assert report.broken is not None and report.broken.event == 2
    assert report.first_bad == report.broken.message  # events are named first
    assert audit.trusted_records(store).trusted == {("gate_runs", 1)}


def test_an_empty_store_is_empty(store_url: str) -> None:
    with Store.open(store_url) as fresh:
        report = audit.verify(fresh)
    assert report.ok and report.empty and (report.events, report.rows) == (0, 0)


def test_the_migration_chains_old_rows_once_marked_backfilled(store_url: str) -> None:
    backend, url = _parse_url(store_url)
    engine = _make_engine(backend, url)
    command.upgrade(alembic_config(engine), "0007")
    at = NOW.replace(tzinfo=None) if backend == "sqlite" else NOW
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO artifacts VALUES (:d, 'shop', '1.0', 'v1.0', 'v1.0', 'c', :at, :at,"
                " 'ci', 'h', 1, '/x')"
            ),
            {"d": DIGEST, "at": at},
        )
        conn.execute(
            text(
                "INSERT INTO verdicts (environment, digest, person, kind, note, at)"
                " VALUES ('staging', :d, 'ana@shop.example', 'approve', 'old', :at)"
            ),
            {"d": DIGEST, "at": at},
        )
    engine.dispose()
    with Store.open(store_url) as store:
        report = audit.verify(store)
        assert report.ok and (report.events, report.rows) == (1, 1)
        (event,) = store.events()
        assert event.kind == "record.backfilled" and event.data["backfilled"] is True
        assert event.data["record"]["table"] == "verdicts" and event.environment == "staging"
        store.add_verdict("staging", DIGEST, person="ben@shop.example", kind="approve")
        assert audit.verify(store).ok


def test_rows_written_at_the_same_time_keep_their_own_hash(store: Store) -> None:
    later = NOW + timedelta(seconds=1)
    for n in range(3):
        store.record_gate_run(
            "staging", DIGEST, f"g{n}", kind="http", status="passed", started_at=later,
            duration=0.1 * n, summary="ok", evidence={}, report_path=None, actor="ci",
        )  # fmt: skip
    assert audit.verify(store).ok
