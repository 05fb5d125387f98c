"""Recording, pure and in memory: the vocabulary's fold, the recorder's minutes, the
histogram, and how parts of minutes add up into a profile."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stageline.traffic.minutes import (
    MinuteRecord,
    RouteTally,
    bucket,
    bucket_ms,
    build_profile,
    merge,
    percentile,
)
from stageline.traffic.recorder import Exchange, Recorder
from stageline.traffic.vocabulary import Vocabulary


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


T0 = 1_796_000_400  # on the minute (UTC)


def test_a_position_with_many_words_becomes_a_parameter() -> None:
    vocabulary = Vocabulary(max_children=3)
    assert vocabulary.fold("GET /users/me") == "GET /users/me"
    assert vocabulary.fold("GET /users/alice") == "GET /users/alice"
    assert vocabulary.fold("GET /users/bob") == "GET /users/bob"
    before = vocabulary.version
    assert vocabulary.fold("GET /users/carol") == "GET /users/{other}"
    assert vocabulary.version == before + 1
    # from then on every word there is folded, the ones kept before included
    assert vocabulary.fold("GET /users/alice") == "GET /users/{other}"
    assert vocabulary.fold("GET /users/alice/orders") == "GET /users/{other}/orders"
    # other methods and other positions are their own
    assert vocabulary.fold("POST /users/alice") == "POST /users/alice"
    assert vocabulary.fold("GET /orders/{id}") == "GET /orders/{id}"


def test_routes_over_the_cap_are_one_route() -> None:
    vocabulary = Vocabulary(max_routes=2)
    assert vocabulary.fold("GET /a") == "GET /a"
    assert vocabulary.fold("GET /b") == "GET /b"
    assert vocabulary.fold("GET /c") == "GET /{other}"
    assert vocabulary.fold("GET /a") == "GET /a"


def _exchange(status: int = 200, sent: int = 0, got: int = 10) -> Exchange:
    return Exchange(status, sent, got)


def test_the_recorder_counts_by_minute_with_the_peak_second() -> None:
    clock = Clock(T0 + 0.5)
    recorder = Recorder(clock=clock)
    for _ in range(3):  # second 0: 3 requests
        recorder.record(b"GET", b"/orders/1?secret=x", _exchange(), in_flight=2)
    clock.now = T0 + 5.2  # second 5: 5 requests, one of them a 503
    for n in range(5):
        status = 503 if n == 0 else 200
        recorder.record(b"POST", b"/orders", _exchange(status, 100, 20), in_flight=1)
    recorder.record(b"GET", b"/", Exchange(status=0), in_flight=1)  # no answer: not counted
    assert recorder.take() == []  # the minute has not ended
    clock.now = T0 + 61
    recorder.record(b"GET", b"/orders/2", _exchange(), in_flight=4)
    [minute] = recorder.take()
    assert (minute.start, minute.requests, minute.peak_second) == (T0, 8, 5)
    assert minute.max_concurrency == 2
    assert set(minute.routes) == {"GET /orders/{id}", "POST /orders"}
    post = minute.routes["POST /orders"]
    assert (post.count, post.statuses, post.request_bytes) == (5, {503: 1, 200: 4}, 500)
    [partial] = recorder.take(partial=True)
    assert (partial.start, partial.requests, partial.max_concurrency) == (T0 + 60, 1, 4)


def test_parts_of_a_minute_add_up() -> None:
    clock = Clock(T0 + 1)
    recorder = Recorder(clock=clock)
    for _ in range(4):
        recorder.record(b"GET", b"/a", _exchange(), in_flight=1)
    first = recorder.take(partial=True)
    for _ in range(2):  # the same second: its running count goes on to 6
        recorder.record(b"GET", b"/a", _exchange(), in_flight=1)
    second = recorder.take(partial=True)
    assert recorder.take(partial=True) == []  # nothing new: nothing written
    [whole] = merge(first + second)
    assert (whole.requests, whole.peak_second, whole.routes["GET /a"].count) == (6, 6, 6)


def test_a_minute_is_folded_again_before_it_is_written() -> None:
    """Names seen under a position that turns out to be a parameter within the minute
    never reach what is written."""
    clock = Clock(T0)
    recorder = Recorder(Vocabulary(max_children=2), clock=clock)
    for name in (b"alice", b"bob", b"carol"):
        recorder.record(b"GET", b"/users/" + name, _exchange(), in_flight=1)
    [minute] = recorder.take(partial=True)
    assert minute.routes.keys() == {"GET /users/{other}"}
    assert minute.routes["GET /users/{other}"].count == 3


@pytest.mark.parametrize("ms", [0.005, 0.01, 0.3, 1.0, 12.5, 250.0, 30_000.0])
def test_a_bucket_bounds_its_latency_within_five_percent(ms: float) -> None:
    upper = bucket_ms(bucket(ms))
    assert ms <= upper + 1e-12
    assert upper <= max(ms, 0.01) * 1.05 + 1e-12


def test_percentiles_of_a_histogram() -> None:
    histogram: dict[int, int] = {}
    for ms in range(1, 101):  # 1..100 ms
        histogram[bucket(ms)] = histogram.get(bucket(ms), 0) + 1
    assert 50 <= percentile(histogram, 0.5) <= 52.5
    assert 99 <= percentile(histogram, 0.99) <= 104
    assert percentile({}, 0.5) == 0.0


def test_a_profile_from_records() -> None:
    a = MinuteRecord(T0, 3, 2, 1, {"GET /a": RouteTally(3, {200: 3}, {bucket(2.0): 3}, 0, 30)})
    b = MinuteRecord(T0 + 60, 1, 1, 5, {"POST /b": RouteTally(1, {500: 1}, {bucket(9.0): 1}, 8, 0)})
    since = datetime.fromtimestamp(T0, UTC)
    profile = build_profile("production", since, since.replace(hour=since.hour + 1), [b, a])
    assert [r.route for r in profile.routes] == ["GET /a", "POST /b"]
    first = profile.routes[0]
    assert (first.method, first.template, first.count, first.response_bytes) == (
        "GET",
        "/a",
        3,
        10.0,
    )
    assert 2.0 <= first.p50_ms <= 2.1
    assert [m.requests for m in profile.minutes] == [3, 1]
    assert profile.peak_rps == 2.0
    assert profile.max_concurrency == 5
    assert profile.routes[1].error_rate == 1.0


def test_a_record_round_trips_through_its_line() -> None:
    record = MinuteRecord(T0, 2, 2, 1, {"GET /a": RouteTally(2, {200: 2}, {7: 2}, 0, 30)})
    assert MinuteRecord.from_json(record.to_json()) == record


def test_a_fault_while_recording_never_reaches_the_proxy() -> None:
    def broken() -> float:
        raise OSError("no clock")

    recorder = Recorder(clock=broken)
    recorder.record(b"GET", b"/", _exchange(), in_flight=1)
    recorder.record(b"GET", b"/", _exchange(), in_flight=1)
    assert recorder.faults == 2


def test_a_vocabulary_learns_what_was_recorded_before() -> None:
    """A restarted front keeps a parameter a parameter, and knows the words it kept."""
    vocabulary = Vocabulary(max_children=3)
    vocabulary.learn(["GET /users/{other}/orders", "GET /orders/open", "GET /orders/paid"])
    vocabulary.learn(["GET /{other}"])
    assert vocabulary.fold("GET /users/alice") == "GET /users/{other}"
    assert vocabulary.fold("GET /orders/open") == "GET /orders/open"
    assert vocabulary.fold("GET /orders/closed") == "GET /orders/closed"
    assert vocabulary.fold("GET /orders/late") == "GET /orders/{other}"
    assert vocabulary.fold("GET /about") == "GET /about"  # the root is no parameter
