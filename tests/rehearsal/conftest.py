"""Fixtures for the rehearsal tests: a seeded source database on the session's server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from stageline.services.postgres import PostgresServer

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture
def seeded(postgres_server: PostgresServer) -> Iterator[str]:
    """A database holding the corpus seed (``corpus/seed.sql``); its name."""
    name = f"seed_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        with psycopg.connect(postgres_server.url(name), autocommit=True) as conn:
            conn.execute((CORPUS / "seed.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        yield name
    finally:
        postgres_server.drop_database(name)
