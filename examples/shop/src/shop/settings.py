"""Configuration read from environment variables (one place, read once at startup).

The variables are declared with ``stageline.runtime.Settings``, so every environment
reads them the same way and a misconfigured one fails at start with every problem
listed at once. What differs per tier is declared here too: production must name its
payment and email providers and the payment API key; every other tier defaults them to
a local address that accepts nothing (there they are never called anyway, see
``shop.effects``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from stageline import runtime

DRIVER_SCHEME = "postgresql+psycopg://"
_PLAIN_SCHEMES = ("postgresql://", "postgres://")
#: TCP port 9 ("discard") on this host: nothing real answers there.
NOWHERE_URL = "http://127.0.0.1:9/"

SPEC = runtime.Settings(
    # A string, not runtime.url(): libpq's socket form (postgresql://user@/db?host=/run/pg)
    # has no host part, and the PostgreSQL check below says more than "a URL" would.
    DATABASE_URL=runtime.string(),
    APP_ENV=runtime.string(default="development"),
    STAGELINE_VERSION=runtime.string(default=""),
    STAGELINE_DIGEST=runtime.string(default=""),
    PAYMENT_URL=runtime.url(production=runtime.REQUIRED, default=NOWHERE_URL),
    PAYMENT_API_KEY=runtime.secret(production=runtime.REQUIRED, default=""),
    EMAIL_URL=runtime.url(production=runtime.REQUIRED, default=NOWHERE_URL),
)


#: settings that could not be loaded; ``.problems`` lists every one of them
SettingsError = runtime.SettingsError
POSTGRES_PROBLEM = (
    "DATABASE_URL: expected a PostgreSQL URL (postgresql://... or postgresql+psycopg://...)"
)


@dataclass(frozen=True)
class Settings:
    database_url: str
    app_env: str = "development"
    version: str = "0+unknown"
    digest: str | None = None
    payment_url: str = NOWHERE_URL
    payment_api_key: runtime.Secret = field(default_factory=lambda: runtime.Secret(""))
    email_url: str = NOWHERE_URL


def is_postgres_url(url: str) -> bool:
    return url.startswith((*_PLAIN_SCHEMES, DRIVER_SCHEME))


def normalize_database_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses the psycopg 3 driver."""
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return DRIVER_SCHEME + url[len(scheme) :]
    if url.startswith(DRIVER_SCHEME):
        return url
    raise SettingsError([POSTGRES_PROBLEM])


def installed_version() -> str:
    try:
        return package_version("shop")
    except PackageNotFoundError:
        return "0+unknown"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every variable; SettingsError lists all problems at once."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    try:
        config = SPEC.load(env)
    except SettingsError as error:
        problems = list(error.problems)
    raw_database_url = env.get("DATABASE_URL", "").strip()
    if raw_database_url and not is_postgres_url(raw_database_url):
        problems.append(POSTGRES_PROBLEM)
    if problems:
        raise SettingsError(problems, runtime.current(env).tier)
    return Settings(
        database_url=normalize_database_url(config.DATABASE_URL),
        app_env=config.APP_ENV,
        version=config.STAGELINE_VERSION or installed_version(),
        digest=config.STAGELINE_DIGEST or None,
        payment_url=config.PAYMENT_URL,
        payment_api_key=config.PAYMENT_API_KEY,
        email_url=config.EMAIL_URL,
    )
