"""The API against a real PostgreSQL: the same POSTGRES_* variables the service reads,
migrated to the head by this release's Alembic (a no-op on a database already there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

BACKEND = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def admin_password() -> Iterator[str]:
    """The environment's ADMIN_PASSWORD when it has one, else one for these tests."""
    given = os.environ.get("ADMIN_PASSWORD")
    os.environ.setdefault("ADMIN_PASSWORD", "tests-only-password")
    yield os.environ["ADMIN_PASSWORD"]
    if given is None:
        del os.environ["ADMIN_PASSWORD"]


@pytest.fixture(scope="session")
def client(admin_password: str) -> Iterator[TestClient]:
    command.upgrade(Config(str(BACKEND / "alembic.ini")), "head")
    from app.main import app

    with TestClient(app) as client:
        yield client


@pytest.fixture
def token(client: TestClient, admin_password: str) -> str:
    form = {"username": "admin", "password": admin_password}
    response = client.post("/api/v1/login/access-token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
