"""The same secret and token rows on a PostgreSQL state store (a team's shared store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import (
    list_secrets,
    remove_secret,
    rotate_key,
    secrets_for,
    set_secret,
)
from stageline.usecases.tokens import create_token, person_for_token, revoke_token


def test_secrets_and_tokens_on_postgresql(
    project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_DATABASE_URL", postgres_url)
    with Session.open(project) as session:
        assert session.store.backend == "postgresql"
        set_secret(session, "staging", "API_KEY", value="pg-staging-1")
        set_secret(session, "staging", "API_KEY", value="pg-staging-2")  # replaces
        set_secret(session, "production", "API_KEY", value="pg-production")
        assert [i.name for i in list_secrets(session, "staging")] == ["API_KEY", "DB_PASSWORD"]
        assert rotate_key(session).secrets == 2
        staging = session.pipeline().environment("staging")
        assert secrets_for(staging, session) == {"API_KEY": "pg-staging-2"}
        remove_secret(session, "staging", "API_KEY")
        assert secrets_for(staging, session) == {}
        token, _ = create_token(session.store, "ci", "ops@shop.example")
        assert person_for_token(session.store, token) == "ops@shop.example"
        assert revoke_token(session.store, "ci", "ops@shop.example") == 1
