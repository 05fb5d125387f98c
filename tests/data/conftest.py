"""A production-like source database on the session's PostgreSQL, and empty targets."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from stageline.data.copy import CopyResult, copy_database, create_database, drop_database
from stageline.data.masking import MaskingKey
from stageline.data.rules import DataRules
from stageline.services.postgres import PostgresServer, find_binaries
from tests.data import fixture

KEY = MaskingKey(b"test-masking-key-0123456789")


@pytest.fixture
def source(postgres_server: PostgresServer) -> Iterator[tuple[str, fixture.Fixture]]:
    name = f"prod_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.url(name), fixture.populate(postgres_server.url(name))
    finally:
        drop_database(postgres_server.url(), name)


Snapshotter = Callable[..., tuple[str, CopyResult]]


@pytest.fixture
def snapshot(postgres_server: PostgresServer) -> Iterator[Snapshotter]:
    """Copy a source URL into a new database; returns its URL and the result."""
    made: list[str] = []
    binaries = find_binaries("embedded")

    def take(
        source_url: str, rules: DataRules | None = None, key: MaskingKey = KEY
    ) -> tuple[str, CopyResult]:
        name = f"snap_{uuid.uuid4().hex[:12]}"
        create_database(postgres_server.url(), name)
        made.append(name)
        result = copy_database(
            source_url,
            postgres_server.url(name),
            rules or fixture.rules(),
            key,
            source_name="production",
            dump=binaries,
            load=binaries,
        )
        return postgres_server.url(name), result

    yield take
    for name in made:
        drop_database(postgres_server.url(), name)
