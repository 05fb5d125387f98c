"""The database URL, built from POSTGRES_* variables only (as the full-stack FastAPI
template does). DATABASE_URL is deliberately ignored: this is the kind of service that
stageline must not assume reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy.engine import URL

NAMES = ("POSTGRES_SERVER", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD")


def database_url(environ: Mapping[str, str] = os.environ) -> URL:
    """The SQLAlchemy URL of the service's database; RuntimeError naming what is missing."""
    missing = [name for name in NAMES[:4] if not environ.get(name)]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)}: the service reads its database from them")
    return URL.create(
        "postgresql+psycopg",
        username=environ["POSTGRES_USER"],
        password=environ.get("POSTGRES_PASSWORD") or None,
        host=environ["POSTGRES_SERVER"],
        port=int(environ["POSTGRES_PORT"]),
        database=environ["POSTGRES_DB"],
    )
