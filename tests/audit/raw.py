"""Writing to the store's tables around stageline, as an attacker with the database would."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from stageline.state import event_hash


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def insert_forged_event(engine: Engine, event_id: int, prev: str) -> None:
    """A well-hashed ``approve.given`` by mallory with id ``event_id``, chained to ``prev``."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    forged = event_hash(
        prev, at=at, actor="mallory", kind="approve.given", environment="staging",
        digest=None, data={},
    )  # fmt: skip
    sql(
        engine,
        "INSERT INTO events (id, at, actor, kind, environment, digest, data, prev_hash, hash)"
        " VALUES (:id, :at, 'mallory', 'approve.given', 'staging', NULL, '{}', :prev, :hash)",
        id=event_id,
        at=at.replace(tzinfo=None) if engine.dialect.name == "sqlite" else at,
        prev=prev,
        hash=forged,
    )
