from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from stageline.errors import LockHeld
from stageline.state import Store
from stageline.state.models import Lock

from .race import race


def lock_rows(store: Store) -> list[tuple[str, str]]:
    with Session(store._engine) as session:
        return [(r.name, r.holder) for r in session.scalars(select(Lock))]


def test_second_acquirer_gets_lock_held(store: Store) -> None:
    with store.lock("pipeline", holder="alice"):
        assert lock_rows(store) == [("pipeline", "alice")]
        with pytest.raises(LockHeld) as info, store.lock("pipeline", holder="bob"):
            pass
        with store.lock("other", holder="bob"):  # other names are independent
            pass
    held = info.value
    assert held.name == "pipeline"
    assert held.holder == f"alice@{socket.gethostname()} (pid {__import__('os').getpid()})"
    assert held.since.tzinfo == UTC
    assert held.since <= datetime.now(UTC)
    assert lock_rows(store) == []
    with store.lock("pipeline", holder="bob"):  # released on exit
        pass


def test_lock_released_after_exception(store: Store) -> None:
    with pytest.raises(RuntimeError), store.lock("pipeline", holder="alice"):
        raise RuntimeError("deploy failed")
    assert lock_rows(store) == []
    with store.lock("pipeline", holder="bob"):
        assert lock_rows(store) == [("pipeline", "bob")]


def test_stale_lock_of_dead_process_is_taken_over(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Session(store._engine) as session, session.begin():
        session.add(
            Lock(
                name="pipeline",
                holder="ghost",
                pid=dead.pid,
                host=socket.gethostname(),
                since=datetime(2020, 1, 1, tzinfo=UTC),
                token="stale",
            )
        )
    with store.lock("pipeline", holder="bob"):
        assert lock_rows(store) == [("pipeline", "bob")]
    assert lock_rows(store) == []


def test_two_processes_race_for_one_lock(store: Store, tmp_path: Path) -> None:
    results = race("lock", store.url, tmp_path)
    winners = [(i, pid) for i, (pid, out) in enumerate(results) if out == "acquired"]
    losers = [out for _, out in results if out.startswith("held ")]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    index, pid = winners[0]
    assert losers[0] == f"held worker{index}@{socket.gethostname()} (pid {pid})"
    assert lock_rows(store) == []


def test_sqlite_lock_row_of_another_host_is_respected(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        with Session(store._engine) as session, session.begin():
            since = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
            session.add(
                Lock(
                    name="pipeline",
                    holder="carol",
                    pid=1,
                    host="elsewhere",
                    since=since,
                    token="remote",
                )
            )
        with pytest.raises(LockHeld) as info, store.lock("pipeline", holder="bob"):
            pass
        assert info.value.holder == "carol@elsewhere (pid 1)"
        assert info.value.since == since
