"""Settings from the environment: DATABASE_URL (PostgreSQL), REDIS_URL (the queue),
ADMIN_PASSWORD (the admin's login; unset: nobody can log in), SECRET_KEY (the session
cookie's key)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def settings_from(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    url = environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):  # psycopg 3 is the driver
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return {
        "SQLALCHEMY_DATABASE_URI": url or None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "WELCOME_QUEUE": environ.get("WELCOME_QUEUE", "newsletter:welcome"),
        "ADMIN_PASSWORD": environ.get("ADMIN_PASSWORD", ""),
        "SECRET_KEY": environ.get("SECRET_KEY", "example-only-not-secret"),
    }
