"""Personal tokens: shown once, stored as a hash, expire, revoked, mapped to a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageline.errors import Refused, UsageError
from stageline.usecases.pipeline import Session
from stageline.usecases.tokens import (
    create_token,
    parse_expiry,
    person_for_token,
    revoke_token,
    token_hash,
)

ANA = "ana@shop.example"


def test_a_token_is_stored_as_its_hash_and_names_its_person(session: Session) -> None:
    token, record = create_token(session.store, "laptop", ANA)
    assert token.startswith("stl_") and len(token) > 40
    assert record.token_hash == token_hash(token) and token not in repr(record)
    raw = (session.workspace.home / "state.db").read_bytes()
    assert token.encode() not in raw
    assert person_for_token(session.store, token) == ANA
    used = session.store.vault.tokens(ANA)[0]
    assert used.last_used_at is not None
    with pytest.raises(Refused, match="unknown token"):
        person_for_token(session.store, token + "x")
    with pytest.raises(UsageError, match="already has a token called 'laptop'"):
        create_token(session.store, "laptop", ANA)


def test_expired_and_revoked_tokens_are_refused(session: Session) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    token, _ = create_token(session.store, "ci", ANA, expires_at=soon)
    assert person_for_token(session.store, token) == ANA
    with pytest.raises(Refused, match="expired"):
        person_for_token(session.store, token, now=soon + timedelta(seconds=1))
    revoke_token(session.store, "ci", ANA)
    with pytest.raises(Refused, match="was revoked"):
        person_for_token(session.store, token)
    with pytest.raises(UsageError, match="no active token"):
        revoke_token(session.store, "ci", ANA)
    kinds = [e.kind for e in session.store.events()]
    assert kinds[:2] == ["token.revoked", "token.created"]
    assert all(token not in str(e.data) for e in session.store.events())


def test_parse_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("30d", now) == now + timedelta(days=30)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    assert parse_expiry("2w", now) == now + timedelta(weeks=2)
    assert parse_expiry("2026-02-01T00:00:00+01:00", now) == datetime(2026, 1, 31, 23, tzinfo=UTC)
    for bad in ("0d", "soon", "2026-02-01T00:00:00", "2025-01-01T00:00:00Z"):
        with pytest.raises(UsageError):
            parse_expiry(bad, now)
