"""Tokens and names, without a database."""

from __future__ import annotations

import pytest
from acme_common import normalize_username
from app.security import TOKEN_SECONDS, create_token, token_is_valid


def test_a_token_holds_until_it_expires() -> None:
    token = create_token(b"k", now=1000)
    assert token_is_valid(b"k", token, now=1000 + TOKEN_SECONDS - 1)
    assert not token_is_valid(b"k", token, now=1000 + TOKEN_SECONDS)
    assert not token_is_valid(b"other", token, now=1000)
    assert not token_is_valid(b"k", "nonsense", now=1000)


def test_names_are_normalized_or_refused() -> None:
    assert normalize_username("  Ada.L ") == "ada.l"
    with pytest.raises(ValueError):
        normalize_username("x")
