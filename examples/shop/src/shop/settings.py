"""Configuration read from environment variables (one place, read once at startup)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

DRIVER_SCHEME = "postgresql+psycopg://"
_PLAIN_SCHEMES = ("postgresql://", "postgres://")


class SettingsError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    app_env: str = "development"
    version: str = "0+unknown"
    digest: str | None = None


def normalize_database_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses the psycopg 3 driver."""
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return DRIVER_SCHEME + url[len(scheme) :]
    if url.startswith(DRIVER_SCHEME):
        return url
    raise SettingsError(
        "DATABASE_URL must be a PostgreSQL URL (postgresql://... or postgresql+psycopg://...)"
    )


def installed_version() -> str:
    try:
        return package_version("shop")
    except PackageNotFoundError:
        return "0+unknown"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    raw_url = env.get("DATABASE_URL", "").strip()
    if not raw_url:
        raise SettingsError(
            "DATABASE_URL is not set: export DATABASE_URL=postgresql://user:pass@host/dbname"
        )
    return Settings(
        database_url=normalize_database_url(raw_url),
        app_env=env.get("APP_ENV") or "development",
        version=env.get("STAGELINE_VERSION") or installed_version(),
        digest=env.get("STAGELINE_DIGEST") or None,
    )
