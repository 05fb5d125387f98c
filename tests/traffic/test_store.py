"""The day files of a traffic profile: append, read a window, the rolling window and the
size cap, a torn line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from stageline.traffic.minutes import MinuteRecord, RouteTally
from stageline.traffic.store import TrafficStore

NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def _record(at: datetime, requests: int = 1) -> MinuteRecord:
    tally = RouteTally(requests, {200: requests}, {40: requests}, 0, 10 * requests)
    return MinuteRecord(int(at.timestamp()), requests, 1, 1, {"GET /a": tally})


def test_append_and_read_a_window(tmp_path: Path) -> None:
    store = TrafficStore(tmp_path / "traffic")
    records = [
        _record(NOW - timedelta(days=1)),
        _record(NOW - timedelta(minutes=5), 2),
        _record(NOW, 3),
    ]
    assert store.append(records, now=NOW) == 3
    assert [p.name for p in store.days()] == ["2026-12-04.jsonl", "2026-12-05.jsonl"]
    found = store.read(NOW - timedelta(hours=1), NOW + timedelta(minutes=1))
    assert [r.requests for r in found] == [2, 3]
    assert store.read(NOW - timedelta(days=2), NOW + timedelta(minutes=1)) == records


def test_a_torn_line_is_skipped(tmp_path: Path) -> None:
    store = TrafficStore(tmp_path)
    store.append([_record(NOW)], now=NOW)
    with (tmp_path / "2026-12-05.jsonl").open("a") as f:
        f.write('{"t": 17960')
    assert len(store.read(NOW - timedelta(hours=1), NOW + timedelta(hours=1))) == 1


def test_days_out_of_the_window_are_deleted(tmp_path: Path) -> None:
    store = TrafficStore(tmp_path, retain_days=7)
    old = [_record(NOW - timedelta(days=d)) for d in (9, 8, 7, 1)]
    store.append(old, now=NOW - timedelta(days=1))
    store.append([_record(NOW)], now=NOW)
    assert [p.name for p in store.days()] == [
        "2026-11-28.jsonl",
        "2026-12-04.jsonl",
        "2026-12-05.jsonl",
    ]


def test_the_size_cap_drops_oldest_days_then_new_minutes(tmp_path: Path) -> None:
    line = len(TrafficStore.line(_record(NOW)))
    store = TrafficStore(tmp_path, max_bytes=line * 3)
    store.append([_record(NOW - timedelta(days=2)), _record(NOW - timedelta(days=1))], now=NOW)
    assert store.append([_record(NOW)] * 2, now=NOW) == 2  # the oldest day made room
    assert [p.name for p in store.days()] == ["2026-12-04.jsonl", "2026-12-05.jsonl"]
    assert store.append([_record(NOW)] * 2, now=NOW) == 0  # today alone would pass the cap
    assert [p.name for p in store.days()] == ["2026-12-05.jsonl"]
    assert sum(p.stat().st_size for p in store.days()) <= line * 3
