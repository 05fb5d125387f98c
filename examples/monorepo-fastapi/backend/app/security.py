"""Bearer tokens for the admin: ``<expiry>.<hmac>``, signed with the settings' key."""

from __future__ import annotations

import hashlib
import hmac
import time

TOKEN_SECONDS = 3600


def create_token(key: bytes, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + TOKEN_SECONDS)
    return f"{expiry}.{_sign(key, expiry)}"


def token_is_valid(key: bytes, token: str, now: float | None = None) -> bool:
    expiry, _, signature = token.partition(".")
    if not expiry.isdigit() or not hmac.compare_digest(signature, _sign(key, int(expiry))):
        return False
    return int(expiry) > (time.time() if now is None else now)


def _sign(key: bytes, expiry: int) -> str:
    return hmac.new(key, f"admin:{expiry}".encode(), hashlib.sha256).hexdigest()
