"""GET /healthz answers from a real database round trip."""

from __future__ import annotations

import socket
from collections.abc import Callable

from fastapi.testclient import TestClient


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthz_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "1.6.0-test",
        "environment": "testing",
        "digest": "sha256:" + "0" * 64,
        "database": "ok",
    }


def test_healthz_503_when_database_is_unreachable(
    client_factory: Callable[[str], TestClient],
) -> None:
    url = f"postgresql+psycopg://shop:shop@127.0.0.1:{closed_port()}/shop"
    with client_factory(url) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unavailable"
    assert body["environment"] == "testing"
