"""examples/flask-redis shipped as it is (issue 20): a Flask tree (app factory, full lock
in requirements.txt), Flask-Migrate's ``migrations/``, a worker process (``python -m
worker``, named by the operator in ``[service.processes]``) taking jobs from a Redis list,
translations compiled at build time (``pybabel compile``), DATABASE_URL and REDIS_URL,
tests needing requirements-test.txt; tags ``release-2026.11``, ``release-2026.12``."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from tests.examples.journey import Example, adopted, ship_story

pytestmark = pytest.mark.slow
WORKER_WAIT_SECONDS = 60


def speaks_french(client: httpx.Client, password: str) -> None:
    """The .mo the build compiled from the committed .po is there."""
    greeting = client.get("/", headers={"Accept-Language": "fr"}).json()["greeting"]
    assert greeting == "Bienvenue dans la lettre d'information"


def the_worker_welcomes(client: httpx.Client, password: str) -> None:
    """A registration queues a job in the environment's Redis; production's worker
    process takes it and marks the subscriber welcomed."""
    form = {"username": "admin", "password": password}
    assert client.post("/login", data=form).status_code == 302
    name = f"worker-{os.urandom(4).hex()}"
    assert client.post("/subscribers", json={"name": name}).status_code == 201
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while not client.get(f"/subscribers/{name}").json()["welcomed"]:
        assert time.monotonic() < deadline, "the worker never took the welcome job"
        time.sleep(0.2)


FLASK = Example(
    name="flask-redis",
    init_finds=("wsgi:app", "flask-migrate", "pybabel compile", "REDIS_URL", "${redis.url}"),
    migration_tool="flask-migrate",
    test_dependencies='requirements = "requirements-test.txt"',
    login_path="/login",
    token_field=None,
    users_path="/subscribers",
    health_path="/healthz",
    v2_key="language",
    processes=(("worker", "python -m worker"),),
    production_checks=(speaks_french, the_worker_welcomes),
)


def test_flask_redis_ships_from_its_own_tags() -> None:
    with adopted(FLASK) as repo:
        ship_story(FLASK, repo)
