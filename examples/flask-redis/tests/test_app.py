"""Health, greeting, login, registration and the worker, on the real database and Redis."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient
from worker import process_one


def test_health_reads_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_the_greeting_speaks_english_by_default(client: FlaskClient) -> None:
    assert client.get("/").get_json()["greeting"] == "Welcome to the newsletter"


def test_registering_needs_the_login(client: FlaskClient) -> None:
    wrong = client.post("/login", data={"username": "admin", "password": "not-it"})
    assert wrong.status_code == 401
    assert client.post("/subscribers", json={"name": "nobody"}).status_code == 403


def test_a_name_is_registered_once_and_welcomed(admin: FlaskClient, app: Flask) -> None:
    name = f"ada-{uuid.uuid4().hex[:8]}"
    created = admin.post("/subscribers", json={"name": name})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["welcomed"] is False
    assert admin.post("/subscribers", json={"name": name}).status_code == 409
    assert process_one(app, timeout=5) == created.get_json()["id"]
    assert admin.get(f"/subscribers/{name}").get_json()["welcomed"] is True
