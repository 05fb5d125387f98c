"""Who is asking: the signed session cookie, personal tokens, and the CSRF token.

A visitor signs in with a personal token (``stageline tokens create``); the session
cookie (signed with ``.stageline/keys/dashboard.key``, HttpOnly, SameSite=Lax) keeps the
person, the token's *hash* (never the token) and a random session id. The session is
also kept server-side (``web_sessions``, by the id's sha256): every request that reads or
signs off re-checks that the session has not ended and its token is still active, so
signing out (or revoking the token) ends the session for good, even for a copy of the
cookie saved before. Each session has its own random CSRF token, which every form POST
must send back. API clients send ``Authorization: Bearer <token>`` instead: no cookie,
so no CSRF.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request

from stageline.errors import Refused
from stageline.state import Store
from stageline.state.secrets import TokenRecord
from stageline.usecases.tokens import person_for_token, token_hash

KEY_FILE = "keys/dashboard.key"


def signing_key(home: Path) -> bytes:
    """The cookie-signing key in ``home/keys/dashboard.key`` (0600), made on first use."""
    path = home / KEY_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server made it meanwhile
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def csrf_token(request: Request) -> str:
    """This session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, presented: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def sign_in(request: Request, store: Store, token: str) -> str:
    """Check ``token`` and start a session for its person (``Refused`` if it is no good)."""
    person = person_for_token(store, token)
    end_session(request, store)  # signing in again replaces the session before
    sid = secrets.token_urlsafe(32)
    hashed = token_hash(token.strip())
    store.vault.start_session(_sid_hash(sid), person, hashed)
    request.session.update(person=person, token=hashed, sid=sid)
    csrf_token(request)  # a new session, a new CSRF token
    return person


def end_session(request: Request, store: Store) -> None:
    """Sign out: the session ends server-side (a saved copy of the cookie is dead too)."""
    sid = request.session.get("sid")
    if isinstance(sid, str) and sid:
        store.vault.end_session(_sid_hash(sid))
    request.session.clear()


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def signed_in(request: Request, store: Store) -> str | None:
    """The session's person if the session is live server-side and its token still active;
    else None (and the cookie's session is cleared)."""
    person, hashed, sid = (request.session.get(k) for k in ("person", "token", "sid"))
    if person is None:
        return None  # anonymous: keep the session (its CSRF token for the sign-in form)
    if not (isinstance(person, str) and isinstance(hashed, str) and isinstance(sid, str)):
        request.session.clear()  # a session from before server-side sessions, or garbage
        return None
    live = store.vault.live_session(_sid_hash(sid))
    record = _token(store, person, hashed) if live == (person, hashed) else None
    if record is None or record.person != person or not record.active(datetime.now(UTC)):
        request.session.clear()
        return None
    return person


def _token(store: Store, person: str, hashed: str) -> TokenRecord | None:
    """The token record, read only (a page view is no "use" to write down)."""
    return next((t for t in store.vault.tokens(person) if t.token_hash == hashed), None)


def bearer_person(request: Request, store: Store) -> str | None:
    """The person of an ``Authorization: Bearer`` token; None without one; Refused if bad."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return person_for_token(store, token)


__all__ = [
    "Refused",
    "bearer_person",
    "csrf_ok",
    "csrf_token",
    "end_session",
    "sign_in",
    "signed_in",
    "signing_key",
]
