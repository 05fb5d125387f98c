"""The app against a real PostgreSQL (DATABASE_URL), migrated to the head by this
release's Flask-Migrate (a no-op on a database already there), and a redis-server of the
suite's own (pytest-redis): the tests never touch the Redis a deployment uses, so a
worker serving it never takes their jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from newsletter import create_app
from pytest_redis import factories
from pytest_redis.executor.process import RedisExecutor

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

#: started once per test session on a free port, stopped after it
redis_server = factories.redis_proc(port=None)


@pytest.fixture(scope="session")
def app(redis_server: RedisExecutor) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": f"redis://{redis_server.host}:{redis_server.port}/0",
            "ADMIN_PASSWORD": os.environ.get("ADMIN_PASSWORD") or "tests-only-password",
        }
    )
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def admin(client: FlaskClient, app: Flask) -> FlaskClient:
    form = {"username": "admin", "password": app.config["ADMIN_PASSWORD"]}
    assert client.post("/login", data=form).status_code == 302
    return client
