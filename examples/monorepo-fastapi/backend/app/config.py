"""Settings, from the environment only: POSTGRES_HOST/PORT/DB/USER/PASSWORD for the
database (DATABASE_URL is never read) and ADMIN_PASSWORD, the secret the admin logs in
with (no password set: nobody can log in)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

from sqlalchemy.engine import URL

DATABASE_VARIABLES = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER")


def database_url(environ: Mapping[str, str] = os.environ) -> URL:
    """The SQLAlchemy URL of the service's database; RuntimeError naming what is missing."""
    missing = [name for name in DATABASE_VARIABLES if not environ.get(name)]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)}: the API reads its database from them")
    return URL.create(
        "postgresql+psycopg",
        username=environ["POSTGRES_USER"],
        password=environ.get("POSTGRES_PASSWORD") or None,
        host=environ["POSTGRES_HOST"],
        port=int(environ["POSTGRES_PORT"]),
        database=environ["POSTGRES_DB"],
    )


def admin_password(environ: Mapping[str, str] = os.environ) -> str | None:
    return environ.get("ADMIN_PASSWORD") or None


def token_key(environ: Mapping[str, str] = os.environ) -> bytes:
    """The key tokens are signed with: SECRET_KEY, else one derived from ADMIN_PASSWORD
    (changing the password then ends every session)."""
    secret = environ.get("SECRET_KEY") or f"acme-token:{environ.get('ADMIN_PASSWORD', '')}"
    return hashlib.sha256(secret.encode()).digest()
