"""Alembic environment for the state store.

Run programmatically by ``stageline.state.store.migrate`` with the store's engine in
``config.attributes["engine"]``; ``alembic -x url=...`` style use falls back to
``sqlalchemy.url``. The whole upgrade is one transaction that first takes the backend's
lock (SQLite: ``BEGIN IMMEDIATE`` from the store's engine; PostgreSQL: a transaction
advisory lock), so processes opening a new store at once migrate it one after another.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine, text

from stageline.state.locks import lock_key
from stageline.state.models import Base
from stageline.state.store import MIGRATION_LOCK

config = context.config


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine: Engine | None = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(MIGRATION_LOCK)}
                )
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
