"""Health, login and registration through Django's test client and the real database."""

import json
import uuid

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def register(client: Client, name: str) -> object:
    return client.post("/members/", json.dumps({"name": name}), content_type="application/json")


def test_health_reads_the_database(client: Client) -> None:
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_wrong_password_is_refused(client: Client, admin_password: str) -> None:
    response = client.post("/login/", {"username": "admin", "password": "not-it"})
    assert response.status_code == 401
    assert register(client, "nobody").status_code == 403


def test_a_name_is_registered_once(client: Client, admin_password: str) -> None:
    logged_in = client.post("/login/", {"username": "admin", "password": admin_password})
    assert logged_in.status_code == 302
    name = f"ada-{uuid.uuid4().hex[:8]}"
    created = register(client, name)
    assert created.status_code == 201, created.content
    assert register(client, name).status_code == 409
    listed = client.get("/members/").json()["members"]
    assert name in [member["name"] for member in listed]


def test_the_home_page_lists_members(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"Noticeboard" in response.content


def test_a_member_has_a_city(client: Client, admin_password: str) -> None:
    client.post("/login/", {"username": "admin", "password": admin_password})
    member = {"name": f"grace-{uuid.uuid4().hex[:8]}", "city": " Arlington "}
    created = client.post("/members/", json.dumps(member), content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["city"] == "Arlington"
