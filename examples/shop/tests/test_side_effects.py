"""Charging and the confirmation email happen for real in production only.

A stand-in provider (a real HTTP server on 127.0.0.1) plays both the payment and the
email API and counts what reaches it. Outside production an order must leave a
``payments`` and an ``email`` record in the outbox and reach no provider at all; in
production every order is charged once and emailed once. The API key never shows up
in the outbox.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shop.app import create_app
from sqlalchemy.orm import Session, sessionmaker

API_KEY = "sk_live_do-not-leak-4242"
ORDER = {"customer_email": "ada@example.com", "lines": [{"sku": "TEST-A", "quantity": 2}]}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StandInProvider:
    """What the stand-in provider received, and how it answers /charges."""

    url: str
    requests: list[Received] = field(default_factory=list)
    charge_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        with self.lock:
            return [request.path for request in self.requests]


def serve(provider: StandInProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with provider.lock:
                provider.requests.append(Received(self.path, dict(self.headers), body))
                number = len(provider.requests)
            if self.path == "/charges" and provider.charge_status == 200:
                self.answer(200, {"id": f"ch_{number}", "status": "succeeded"})
            elif self.path == "/charges":
                self.answer(provider.charge_status, {"error": "card_declined"})
            elif self.path == "/messages":
                self.answer(200, {"id": f"msg_{number}", "status": "queued"})
            else:
                self.answer(404, {"error": "not found"})

        def answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def provider() -> Iterator[StandInProvider]:
    """The stand-in provider, listening on a free port of 127.0.0.1."""
    stand_in = StandInProvider(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve(stand_in))
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def shop_in(
    monkeypatch: pytest.MonkeyPatch,
    provider: StandInProvider,
    database_url: str,
    sessions: sessionmaker[Session],
) -> Iterator[Any]:
    """``shop_in(env)``: a client for the app started, as uvicorn would start it, from
    environment variables: APP_ENV=env, providers and API key all set."""
    clients: list[TestClient] = []

    def start(app_env: str) -> TestClient:
        monkeypatch.setenv("APP_ENV", app_env)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("PAYMENT_URL", provider.url)
        monkeypatch.setenv("EMAIL_URL", provider.url)
        monkeypatch.setenv("PAYMENT_API_KEY", API_KEY)
        client = TestClient(create_app())
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def outbox_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("app_env", ["staging", "testing", "development"])
def test_outside_production_orders_are_recorded_not_performed(
    shop_in: Any, provider: StandInProvider, outbox: Path, app_env: str
) -> None:
    client = shop_in(app_env)
    response = client.post("/orders", json=ORDER)
    assert response.status_code == 201, response.text
    order_id = response.json()["id"]
    assert response.json()["payment"] == {"id": f"sim-{order_id}", "status": "simulated"}

    assert provider.paths() == []
    records = outbox_records(outbox)
    assert [record["kind"] for record in records] == ["payments", "email"]
    assert all(str(order_id) in json.dumps(record) for record in records)
    assert API_KEY not in outbox.read_text()


def test_production_charges_and_emails_once_per_order(
    shop_in: Any, provider: StandInProvider, outbox: Path
) -> None:
    client = shop_in("production")
    first = client.post("/orders", json=ORDER)
    second = client.post("/orders", json=ORDER)
    assert (first.status_code, second.status_code) == (201, 201), first.text + second.text

    assert sorted(provider.paths()) == ["/charges", "/charges", "/messages", "/messages"]
    charges = [request for request in provider.requests if request.path == "/charges"]
    emails = [request for request in provider.requests if request.path == "/messages"]
    for placed, charged, emailed in zip((first, second), charges, emails, strict=True):
        order = placed.json()
        assert charged.body == {
            "order_id": order["id"],
            "amount_cents": 2 * 500,
            "currency": "EUR",
        }
        assert charged.headers["Authorization"] == f"Bearer {API_KEY}"
        assert order["payment"]["status"] == "succeeded"
        assert order["payment"]["id"].startswith("ch_")
        assert emailed.body["to"] == "ada@example.com"
        assert str(order["id"]) in emailed.body["subject"]
    assert not outbox.exists() or API_KEY not in outbox.read_text()


def test_production_declined_charge_keeps_the_order_and_sends_no_email(
    shop_in: Any, provider: StandInProvider
) -> None:
    provider.charge_status = 402
    client = shop_in("production")
    response = client.post("/orders", json=ORDER)
    assert response.status_code == 201, response.text
    assert response.json()["payment"] == {"id": None, "status": "failed"}
    assert provider.paths() == ["/charges"]
    assert client.get(f"/orders/{response.json()['id']}").status_code == 200
