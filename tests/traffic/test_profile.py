"""The profile's pure parts: routes from request lines, and the figures of a profile."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from stageline.traffic.profile import Minute, RouteStats, TrafficProfile, normalize, split_route


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/", "GET /"),
        ("GET", "/orders", "GET /orders"),
        ("GET", "/orders/", "GET /orders/"),
        ("GET", "/orders/42", "GET /orders/{id}"),
        ("GET", "/orders/42?token=abc&page=2", "GET /orders/{id}"),
        ("GET", "/orders?q=secret#frag", "GET /orders"),
        ("DELETE", "/users/7/orders/981", "DELETE /users/{id}/orders/{id}"),
        ("GET", "/items/9b2f6c1e-3d4a-4f5b-8c7d-0e1f2a3b4c5d", "GET /items/{uuid}"),
        ("GET", "/items/9B2F6C1E-3D4A-4F5B-8C7D-0E1F2A3B4C5D", "GET /items/{uuid}"),
        ("GET", "/blobs/3f2a9c01b7de44aa90", "GET /blobs/{hash}"),
        ("GET", "/t/aZ9_kq3Lx8p0QwErTy7u", "GET /t/{hash}"),
        ("GET", "/orders/ord_1234", "GET /orders/{id}"),
        ("GET", "/reports/2026-12-05", "GET /reports/{id}"),
        ("GET", "/api/v2/orders", "GET /api/v2/orders"),
        ("POST", "/password-reset/confirm", "POST /password-reset/confirm"),
        ("GET", "/static/app.css", "GET /static/app.css"),
        ("GET", "/posts/my-summer-trip-to-lisbon", "GET /posts/{slug}"),
        ("GET", "/users/J%C3%BCrgen", "GET /users/{slug}"),
        ("GET", "/users/Alice", "GET /users/{slug}"),
        ("GET", "/mail/a@b.example", "GET /mail/{slug}"),
        ("GET", "/x/" + "a" * 30, "GET /x/{slug}"),
        ("get", "/", "OTHER /"),
        ("GET", "http://elsewhere/x", "GET /{other}"),
        ("GET", "*", "GET /{other}"),
    ],
)
def test_normalize(method: str, path: str, route: str) -> None:
    assert normalize(method, path) == route


def test_split_route() -> None:
    assert split_route("GET /orders/{id}") == ("GET", "/orders/{id}")


T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _minute(offset: int, requests: int, peak: int, concurrency: int = 1) -> Minute:
    return Minute(T0 + timedelta(minutes=offset), requests, peak, {"GET /": requests}, concurrency)


def _route(route: str, count: int) -> RouteStats:
    method, path = split_route(route)
    return RouteStats(route, method, path, count, {200: count - 1, 503: 1}, 1.0, 2.0, 3.0, 0, 512.5)


def _profile(minutes: tuple[Minute, ...]) -> TrafficProfile:
    routes = (_route("GET /orders/{id}", 300), _route("POST /orders", 100))
    return TrafficProfile("production", T0, T0 + timedelta(hours=3), routes, minutes)


def test_figures_of_a_profile() -> None:
    minutes = (
        _minute(0, 100, 5),  # hour 9: 160 requests, peak 5
        _minute(59, 60, 4, concurrency=7),
        _minute(60, 150, 9),  # hour 10: 150 requests, peak 9
        _minute(121, 90, 3),  # hour 11: 90
    )
    profile = _profile(minutes)
    assert profile.requests == 400
    assert profile.peak_rps == 9.0
    assert profile.max_concurrency == 7
    assert profile.busiest_hour == (T0, 160, 5.0)
    assert profile.mix == {"GET /orders/{id}": 0.75, "POST /orders": 0.25}
    assert profile.routes[0].error_rate == pytest.approx(1 / 300)


def test_busiest_hour_tie_is_the_earliest() -> None:
    profile = _profile((_minute(60, 10, 2), _minute(0, 10, 1)))
    assert profile.busiest_hour == (T0, 10, 1.0)


def test_an_empty_profile() -> None:
    profile = TrafficProfile("production", T0, T0, (), ())
    assert profile.peak_rps == 0.0
    assert profile.busiest_hour is None
    assert profile.mix == {}
    assert profile.to_json()["busiest_hour"] is None


def test_json_round_trip() -> None:
    profile = _profile((_minute(0, 100, 5), _minute(61, 60, 4)))
    text = json.dumps(profile.to_json())
    back = TrafficProfile.from_json(json.loads(text))
    assert back == profile
    data = json.loads(text)
    assert data["peak_rps"] == 5.0
    assert data["busiest_hour"] == {"start": T0.isoformat(), "requests": 100, "peak_rps": 5.0}
    assert data["routes"][0]["statuses"] == {"200": 299, "503": 1}
