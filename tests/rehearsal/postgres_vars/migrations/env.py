"""Alembic environment of a service that ignores DATABASE_URL: it builds its URL from
POSTGRES_SERVER, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD, as the
FastAPI full-stack template does; TENANT, when set, names another database (as a
multi-tenant service might): a variable no rule reads as a database setting."""

import os
from urllib.parse import quote

from alembic import context
from sqlalchemy import create_engine, pool

env = os.environ
url = "postgresql+psycopg://{}:{}@{}:{}/{}".format(
    quote(env["POSTGRES_USER"], safe=""),
    quote(env.get("POSTGRES_PASSWORD", ""), safe=""),
    env["POSTGRES_SERVER"],
    env["POSTGRES_PORT"],
    env.get("TENANT") or env["POSTGRES_DB"],
)
engine = create_engine(url, poolclass=pool.NullPool)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
