"""The leak scan on real PostgreSQL: planted production values are found, by place."""

from __future__ import annotations

import json

import psycopg

from stageline.data.fingerprints import Fingerprints
from stageline.data.masking import MaskingKey
from stageline.data.scan import Finding, config_leaks, scan_database
from tests.data import fixture
from tests.data.conftest import KEY, Snapshotter

Source = tuple[str, fixture.Fixture]


def test_clean_snapshot_passes_and_planted_values_are_found(
    source: Source, snapshot: Snapshotter
) -> None:
    src_url, fx = source
    url, result = snapshot(src_url)
    clean = scan_database(url, KEY, result.fingerprints)
    assert clean.findings == [] and clean.values > 1000 and clean.finished
    leaked = fx.emails[3]
    with psycopg.connect(url) as conn:
        # in a text column the rules mask, inside JSON, and in a column no rule mentions
        conn.execute("UPDATE orders SET note = %s WHERE id IN (1, 2)", (leaked.upper(),))
        conn.execute(
            "UPDATE users SET profile = %s WHERE id = 5",
            (json.dumps({"deep": [{"x": fx.names[9]}]}),),
        )
        conn.execute("ALTER TABLE products ADD COLUMN contact text")
        conn.execute("UPDATE products SET contact = %s", (f"ask {fx.emails[0]} first",))
    found = scan_database(url, KEY, result.fingerprints)
    assert sorted(found.findings, key=lambda f: f.table) == [
        Finding("orders", "note", 2),
        Finding("products", "contact", 2),
        Finding("users", "profile", 1),
    ]
    text = repr(found)
    assert leaked not in text and leaked.upper() not in text and fx.emails[0] not in text


def test_fingerprints_under_another_key_do_not_match(source: Source, snapshot: Snapshotter) -> None:
    src_url, fx = source
    url, result = snapshot(src_url)
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE orders SET note = %s", (fx.emails[1],))
    other = MaskingKey(b"not-the-snapshot-key-42")
    assert scan_database(url, other, Fingerprints(other.key_id)).findings == []
    assert scan_database(url, KEY, result.fingerprints).findings != []


def test_config_leaks_name_the_variable_never_the_value() -> None:
    production = {
        "production's DATABASE_URL": "postgresql://app:pw@10.0.0.5:5432/shop",
        "production's secret PAYMENT_API_KEY": "sk_live_abcdef",
    }
    leaks = config_leaks(
        {
            "OK": "postgresql://app@10.0.0.6:5432/shop",
            "DB": "postgresql://other@10.0.0.5/shop",  # same server and database
            "KEY": "Bearer sk_live_abcdef",
            "LOG_LEVEL": "info",
        },
        production,
    )
    assert leaks == [
        "variable DB holds production's DATABASE_URL",
        "variable KEY holds production's secret PAYMENT_API_KEY",
    ]
    assert not any("sk_live" in leak or "pw@" in leak for leak in leaks)
