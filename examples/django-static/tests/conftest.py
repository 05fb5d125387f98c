"""The suite uses the database the settings name (DB_*), as it is: the service's role
may not create databases, so pytest-django's test database is not made; this release's
migrations are applied (a no-op on a database already migrated) and every test runs in a
transaction rolled back after it."""

import os

import pytest
from django.core.management import call_command


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: pytest.FixtureRequest) -> None:
    with django_db_blocker.unblock():
        call_command("migrate", "--noinput", verbosity=0)


@pytest.fixture(autouse=True)
def uncompressed(settings: pytest.FixtureRequest) -> None:
    """Pages link their CSS as written: the compressed files are made by the build."""
    settings.COMPRESS_ENABLED = False


@pytest.fixture
def admin_password(settings: pytest.FixtureRequest) -> str:
    """The environment's ADMIN_PASSWORD when it has one, else one for the test."""
    settings.ADMIN_PASSWORD = os.environ.get("ADMIN_PASSWORD") or "tests-only-password"
    return str(settings.ADMIN_PASSWORD)
