"""pytest fixtures for a service's gate tests, run by stageline's ``pytest`` gate.

stageline runs your suite against the deployed release with these variables set, so a
test only needs the fixtures::

    def test_products(stageline_http):
        response = stageline_http.get("/products")
        assert response.status_code == 200

- ``stageline_url``: the base URL of the running service (``STAGELINE_URL``).
- ``stageline_http``: an ``httpx.Client`` with that base URL and a 10 s timeout.
- ``database_url``: the database the service uses (``DATABASE_URL``).
- ``stageline_environment``: the environment's name as the service sees it (``APP_ENV``).

Run the suite yourself by setting the variables, e.g.
``STAGELINE_URL=http://127.0.0.1:8000 pytest tests``. Importing this module has no side
effects; ``httpx`` is imported only when ``stageline_http`` is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx


def _required(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        pytest.fail(
            f"{variable} is not set: it holds {what}. stageline's pytest gate sets it; "
            f"to run these tests by hand, set it yourself ({variable}=... pytest)",
            pytrace=False,
        )
    return value


@pytest.fixture(scope="session")
def stageline_url() -> str:
    """Base URL of the service under test, from ``STAGELINE_URL`` (no trailing slash)."""
    return _required("STAGELINE_URL", "the URL of the running service").rstrip("/")


@pytest.fixture
def stageline_http(stageline_url: str) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` for the service: ``base_url=stageline_url``, 10 s timeout."""
    try:
        import httpx
    except ImportError:
        pytest.fail("the stageline_http fixture needs httpx installed", pytrace=False)
    with httpx.Client(base_url=stageline_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def database_url() -> str:
    """The service's database URL, from ``DATABASE_URL``."""
    return _required("DATABASE_URL", "the database URL of the service")


@pytest.fixture(scope="session")
def stageline_environment() -> str:
    """The environment's name, from ``APP_ENV``."""
    return _required("APP_ENV", "the environment name the service runs in")
