"""A masked copy of a realistic database on real PostgreSQL: no PII left, keys hold."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from stageline.data.masking import MaskingKey
from stageline.errors import Refused
from tests.data import fixture
from tests.data.conftest import Snapshotter

Source = tuple[str, fixture.Fixture]


def _everything(url: str) -> str:
    """Every row of every user table, as text (the whole database, searchable)."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        parts = []
        for (table,) in tables:
            rows = conn.execute(f"SELECT t::text FROM {table} t").fetchall()
            parts += [r[0] for r in rows]
    return "\n".join(parts)


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_no_original_pii_value_remains_anywhere(source: Source, snapshot: Snapshotter) -> None:
    src_url, fx = source
    url, result = snapshot(src_url)
    text = _everything(url)
    leaked = [v for v in fx.all_values() if v in text]
    assert leaked == []
    # and the copy is complete
    assert result.row_counts["users"] == 200 and result.row_counts["sessions"] == 0
    count = "SELECT count(*) FROM orders"
    assert _rows(url, count) == _rows(src_url, count)
    assert _rows(url, "SELECT count(*) FROM sessions") == [(0,)]
    assert "products" in result.passthrough
    assert len(result.fingerprints) > 0


def test_keys_constraints_and_joins_hold(source: Source, snapshot: Snapshotter) -> None:
    src_url, _ = source
    url, _ = snapshot(src_url)
    constraints = (
        "SELECT conname, contype FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace ORDER BY 1"
    )
    assert _rows(url, constraints) == _rows(src_url, constraints)
    assert ("users_email_key", "u") in _rows(url, constraints)
    indexes = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
    assert _rows(url, indexes) == _rows(src_url, indexes)
    # the same e-mail masked in two tables still joins
    assert _rows(
        url,
        "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id"
        " WHERE o.customer_email <> u.email",
    ) == [(0,)]
    assert _rows(url, "SELECT count(DISTINCT email) = count(*) FROM users") == [(True,)]
    # sequences continue where production's were; the unique constraint is enforced
    assert _rows(url, "SELECT last_value FROM users_id_seq") == [(200,)]
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        email = conn.execute("SELECT email FROM users LIMIT 1").fetchone()
        conn.execute(
            "INSERT INTO users (email, full_name) VALUES (%s, 'x')",
            (email[0],),  # type: ignore[index]
        )


def test_same_key_same_values_other_key_other_values(source: Source, snapshot: Snapshotter) -> None:
    src_url, _ = source
    query = "SELECT id, email, full_name, phone, born, last_ip, profile::text FROM users ORDER BY 1"
    first, _ = snapshot(src_url)
    second, _ = snapshot(src_url)
    other, _ = snapshot(src_url, key=MaskingKey(b"another-key-9876543210"))
    assert _rows(first, query) == _rows(second, query)
    assert _rows(first, "SELECT * FROM orders ORDER BY id") == _rows(
        second, "SELECT * FROM orders ORDER BY id"
    )
    changed = [a[1] != b[1] for a, b in zip(_rows(first, query), _rows(other, query), strict=True)]
    assert all(changed)


def test_new_unclassified_column_stops_the_snapshot(source: Source, snapshot: Snapshotter) -> None:
    src_url, _ = source
    with psycopg.connect(src_url) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN tax_id text")
        conn.execute("CREATE TABLE loyalty (card text)")
    with pytest.raises(Refused, match=r"users\.tax_id: not classified") as caught:
        snapshot(src_url)
    assert "loyalty.card" in str(caught.value)
