"""Fixtures: a real PostgreSQL database, migrated once per session, cleaned per test.

The database server comes from DATABASE_URL; without it a throwaway server is started
with the `pgserver` package. Either way the suite creates its OWN fresh database on that
server and drops it afterwards, so it never touches the data behind DATABASE_URL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from shop.app import create_app
from shop.db import make_session_factory
from shop.settings import Settings, normalize_database_url
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

SHOP_ROOT = Path(__file__).resolve().parents[1]
#: variables stageline.runtime reads to tell the environment (and so whether side
#: effects really happen); every test starts with none of them set from outside.
ENVIRONMENT_VARIABLES = (
    "STAGELINE_ENVIRONMENT",
    "STAGELINE_TIER",
    "APP_ENV",
    "STAGELINE_ALLOW_PAYMENTS",
    "STAGELINE_ALLOW_EMAIL",
)
TEST_CATALOG = [
    {"sku": "TEST-A", "name": "Test product A", "price_cents": 500, "stock": 10},
    {"sku": "TEST-B", "name": "Test product B", "price_cents": 1250, "stock": 2},
    {"sku": "TEST-C", "name": "Sold-out product", "price_cents": 999, "stock": 0},
]


@pytest.fixture(autouse=True)
def outbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test runs in the testing tier with its own outbox (STAGELINE_OUTBOX), so
    no test charges anyone whatever the calling shell exported."""
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "testing")
    path = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("STAGELINE_OUTBOX", str(path))
    return path


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A URL of a reachable PostgreSQL server (any database on it)."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield normalize_database_url(given)
        return
    try:
        from pgserver.postgres_server import get_server
    except ImportError:
        pytest.exit("set DATABASE_URL or install `pgserver` to run the shop's tests", 2)
    data_dir = tempfile.mkdtemp(prefix="shop-pg-")
    server = get_server(data_dir, cleanup_mode="stop")
    try:
        yield normalize_database_url(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_admin(url: str, statement: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A freshly created, empty database, dropped at the end of the session; or, when
    stageline says the database it gives is a throwaway copy (STAGELINE_DATABASE_COPY=1,
    as in its `pytest` gate, whose role may not create databases), that copy itself."""
    if os.environ.get("STAGELINE_DATABASE_COPY") == "1" and os.environ.get("DATABASE_URL"):
        yield server_url
        return
    name = f"shop_test_{uuid.uuid4().hex[:12]}"
    run_admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        run_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def alembic_config(database_url: str) -> Config:
    config = Config(str(SHOP_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def engine(alembic_config: Config, database_url: str) -> Iterator[Engine]:
    command.upgrade(alembic_config, "head")
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Clean tables holding only TEST_CATALOG; a session factory on them."""
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE order_lines, orders, products RESTART IDENTITY CASCADE"))
        connection.execute(
            text(
                "INSERT INTO products (sku, name, price_cents, stock)"
                " VALUES (:sku, :name, :price_cents, :stock)"
            ),
            TEST_CATALOG,
        )
    return make_session_factory(engine)


TEST_SETTINGS = Settings(
    database_url="",
    app_env="testing",
    version="1.6.0-test",
    digest="sha256:" + "0" * 64,
)


def client_for(database_url: str) -> TestClient:
    """A TestClient (use it as a context manager) for an app on `database_url`."""
    return TestClient(create_app(replace(TEST_SETTINGS, database_url=database_url)))


@pytest.fixture
def client_factory() -> Callable[[str], TestClient]:
    """Builds a TestClient for an app on any database URL (e.g. an unreachable one)."""
    return client_for


@pytest.fixture
def client(sessions: sessionmaker[Session], database_url: str) -> Iterator[TestClient]:
    with client_for(database_url) as test_client:
        yield test_client


@pytest.fixture
def stock(sessions: sessionmaker[Session]) -> Callable[[str], int]:
    """Read a product's stock straight from the database."""

    def read(sku: str) -> int:
        with sessions() as session:
            query = text("SELECT stock FROM products WHERE sku = :sku")
            return int(session.execute(query, {"sku": sku}).scalar_one())

    return read
