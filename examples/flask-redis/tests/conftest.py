"""The app against a real PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), migrated to the
head by this release's Flask-Migrate (a no-op on a database already there). Each test
session has a welcome queue of its own, so a worker that serves the same Redis never
takes the tests' jobs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from newsletter import create_app
from newsletter.queue import connect

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "WELCOME_QUEUE": f"tests:welcome:{uuid.uuid4().hex}",
            "ADMIN_PASSWORD": os.environ.get("ADMIN_PASSWORD") or "tests-only-password",
        }
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
    yield app
    connect(app).delete(app.config["WELCOME_QUEUE"])


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(client: FlaskClient, app: Flask) -> FlaskClient:
    form = {"username": "admin", "password": app.config["ADMIN_PASSWORD"]}
    assert client.post("/login", data=form).status_code == 302
    return client
