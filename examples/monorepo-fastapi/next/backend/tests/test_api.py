"""Health, login and registration through the real app and database."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_check_reads_the_database(client: TestClient) -> None:
    response = client.get("/api/v1/utils/health-check/")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_wrong_password_gets_no_token(client: TestClient) -> None:
    form = {"username": "admin", "password": "not-the-password"}
    response = client.post("/api/v1/login/access-token", data=form)
    assert response.status_code == 401


def test_registering_needs_a_token(client: TestClient) -> None:
    response = client.post("/api/v1/users/", json={"name": "nobody"})
    assert response.status_code == 401


def test_a_name_is_registered_once(client: TestClient, token: str) -> None:
    name = f"Ada-{uuid.uuid4().hex[:8]}"
    created = client.post("/api/v1/users/", json={"name": name}, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name.lower()
    again = client.post("/api/v1/users/", json={"name": name.upper()}, headers=bearer(token))
    assert again.status_code == 409
    read = client.get(f"/api/v1/users/{name}", headers=bearer(token))
    assert read.json()["id"] == created.json()["id"]


def test_a_bad_name_is_refused(client: TestClient, token: str) -> None:
    response = client.post("/api/v1/users/", json={"name": "a b"}, headers=bearer(token))
    assert response.status_code == 422


def test_a_user_keeps_a_full_name(client: TestClient, token: str) -> None:
    name = f"grace-{uuid.uuid4().hex[:8]}"
    user = {"name": name, "full_name": " Grace Hopper "}
    created = client.post("/api/v1/users/", json=user, headers=bearer(token))
    assert created.status_code == 201, created.text
    assert created.json()["full_name"] == "Grace Hopper"
