"""Big tables split into page ranges, copied by worker processes on one snapshot."""

from __future__ import annotations

import psycopg
import pytest

from stageline.data import parallel, stream
from stageline.data.catalog import read_tables
from stageline.data.plan import make_plan
from tests.data import fixture
from tests.data.conftest import Snapshotter


def test_page_ranges_copy_every_row_exactly_once(
    source: tuple[str, fixture.Fixture], snapshot: Snapshotter, monkeypatch: pytest.MonkeyPatch
) -> None:
    src_url, _ = source
    whole, _ = snapshot(src_url)
    monkeypatch.setattr(parallel, "PART_PAGES", 1)
    with psycopg.connect(src_url) as conn:
        plan = make_plan(read_tables(conn), fixture.rules())
        tables = {t.table.key: parallel.parts(conn, t) for t in plan.tables}
    assert len(tables["users"]) > 2 and tables["users"][-1][1] is None  # type: ignore[index]
    split, result = snapshot(src_url)
    query = "SELECT * FROM users ORDER BY id"
    with psycopg.connect(whole) as a, psycopg.connect(split) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        orders = "SELECT * FROM orders ORDER BY id"
        assert a.execute(orders).fetchall() == b.execute(orders).fetchall()
    assert result.row_counts["users"] == 200


def test_rows_cut_anywhere_by_the_reader_copy_the_same(
    source: tuple[str, fixture.Fixture], snapshot: Snapshotter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psql's output arrives in chunks that end anywhere, mid-row and mid-field; blocks
    are masked whole rows at a time all the same."""
    src_url, _ = source
    whole, first = snapshot(src_url)
    monkeypatch.setattr(stream, "CHUNK_BYTES", 7)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 100)
    cut, second = snapshot(src_url)
    with psycopg.connect(whole) as a, psycopg.connect(cut) as b:
        for table in ("users", "orders", "addresses", "products"):
            query = f"SELECT * FROM {table} ORDER BY 1"
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
    assert first.row_counts == second.row_counts
    assert list(first.fingerprints.values) == list(second.fingerprints.values)
