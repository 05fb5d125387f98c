from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from stageline.errors import StoreError
from stageline.state import Store
from stageline.state.store import alembic_config

from .race import race

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_first_open_migrates_and_second_is_a_no_op(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="alembic"), Store.open(store_url) as store:
        assert store.schema_revision == HEAD == "0009"
        tables = set(inspect(store._engine).get_table_names())
    assert {
        "artifacts",
        "deployments",
        "events",
        "locks",
        "snapshots",
        "secrets",
        "tokens",
        "alembic_version",
    } <= tables
    assert any("Running upgrade" in r.getMessage() for r in caplog.records)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="alembic"), Store.open(store_url) as store:
        assert store.schema_revision == HEAD
        store.append_event("opened", actor="test")
    assert not any("Running upgrade" in r.getMessage() for r in caplog.records)


def test_concurrent_first_opens_both_succeed(store_url: str, tmp_path: Path) -> None:
    results = race("open", store_url, tmp_path, count=3)
    assert [out for _, out in results] == [f"opened {HEAD}"] * 3


def test_backend_is_chosen_by_url(store: Store) -> None:
    assert store.backend == store.url.split(":", 1)[0]


def test_unsupported_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        Store.open("mysql://root@127.0.0.1/state")
    assert info.value.hint is not None and "sqlite:///" in info.value.hint


def test_unreachable_postgres_is_a_store_error() -> None:
    from stageline.services.postgres import free_port

    with pytest.raises(StoreError):
        Store.open(f"postgresql://stageline@127.0.0.1:{free_port()}/none?connect_timeout=5")
