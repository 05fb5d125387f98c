"""The audit log's hash chain: edits, deletions and insertions are named, on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from stageline.state import Store
from stageline.usecases import audit
from tests.audit.raw import insert_forged_event, sql

PIPELINE = """
[service]
name = "svc"
start = "python -m http.server {port}"

[environments.staging]
tier = "staging"
target = { kind = "local", port = 18013 }
"""


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        for n in range(1, 7):
            opened.append_event(
                f"deploy.e{n}", actor="ops@shop.example", environment="staging", data={"n": n}
            )
        yield opened


def test_an_untouched_chain_verifies(store: Store) -> None:
    report = audit.verify(store)
    assert report.ok and report.events == 6
    assert report.head == store.events(limit=1)[0].hash


def test_an_edited_event_is_named(store: Store, raw: Engine) -> None:
    sql(raw, "UPDATE events SET actor = 'mallory@evil.example' WHERE id = 3")
    broken = audit.verify(store).broken
    assert broken is not None and (broken.problem, broken.event) == ("altered", 3)
    assert "event 3 (deploy.e3) was altered" in broken.message


def test_edited_data_is_named(store: Store, raw: Engine) -> None:
    sql(raw, "UPDATE events SET data = :data WHERE id = 5", data='{"n":42}')
    broken = audit.verify(store).broken
    assert broken is not None and (broken.problem, broken.event) == ("altered", 5)


def test_a_deleted_event_is_named(store: Store, raw: Engine) -> None:
    sql(raw, "DELETE FROM events WHERE id = 3")
    broken = audit.verify(store).broken
    assert broken is not None and (broken.problem, broken.event) == ("removed", 3)
    assert broken.message.startswith("event 3 removed")


def test_an_inserted_event_is_named(store: Store, raw: Engine) -> None:
    # make room after event 3, then insert a well-hashed forgery there
    sql(raw, "UPDATE events SET id = id + 1000 WHERE id >= 4")
    sql(raw, "UPDATE events SET id = id - 999 WHERE id >= 1004")
    insert_forged_event(raw, 4, prev="f" * 64)
    broken = audit.verify(store).broken
    assert broken is not None and (broken.problem, broken.event) == ("inserted", 4)


def test_a_cut_tail_is_caught_by_a_recorded_head(store: Store, raw: Engine) -> None:
    head = audit.verify(store).head
    sql(raw, "DELETE FROM events WHERE id = 6")
    assert audit.verify(store).ok  # the chain alone cannot see a cut tail
    report = audit.verify(store, head=head)
    assert report.broken is not None and report.broken.problem == "head-missing"


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "STAGELINE_DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(root)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_audit_verify_exits_one_naming_the_first_bad_event(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    url = f"sqlite:///{tmp_path / '.stageline' / 'state.db'}"
    with Store.open(url) as opened:
        for n in range(1, 5):
            opened.append_event(f"e{n}", actor="ops", environment="staging", data={"n": n})
    fine = cli(tmp_path, "audit", "verify")
    assert fine.returncode == 0 and "4 events chain up" in fine.stdout, fine.stderr
    engine = create_engine(url)
    for statement, named in (
        ("UPDATE events SET kind = 'e9' WHERE id = 2", "event 2 (e9) was altered"),
        ("DELETE FROM events WHERE id = 3", "event 2 (e9) was altered"),  # the first still
    ):
        sql(engine, statement)
        result = cli(tmp_path, "audit", "verify")
        assert result.returncode == 1 and named in result.stderr, result.stderr
    sql(engine, "UPDATE events SET kind = 'e2' WHERE id = 2")
    result = cli(tmp_path, "audit", "verify")
    assert result.returncode == 1 and "event 3 removed" in result.stderr, result.stderr
    listed = cli(tmp_path, "audit", "staging")
    assert listed.returncode == 0 and "e4" in listed.stdout
    engine.dispose()


def test_a_crafted_last_event_with_a_made_up_id_is_named(store: Store, raw: Engine) -> None:
    insert_forged_event(raw, 100, prev="e" * 64)
    broken = audit.verify(store).broken
    assert broken is not None and (broken.problem, broken.event) == ("inserted", 100)
    assert broken.message == (
        "event 100 (approve.given) does not follow event 6: it was inserted, or events 7-99 removed"
    )


def test_audit_verify_says_empty_for_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    result = cli(tmp_path, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "the audit log is empty" in result.stdout and "0 events" not in result.stdout
