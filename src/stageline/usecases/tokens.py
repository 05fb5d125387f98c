"""Personal access tokens for the dashboard and API.

``create_token`` makes a random token, stores only its sha256 (a token has 256 bits of
randomness, so a plain hash is enough: nothing to brute-force), and returns the token
once. ``person_for_token`` is what the dashboard calls with a presented token: the person
it belongs to, or ``Refused`` when it is unknown, expired or revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from stageline.errors import Refused, UsageError
from stageline.state import Store
from stageline.state.secrets import TokenRecord

PREFIX = "stl_"
_DURATION = re.compile(r"^(\d+)([hdw])$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``2w``, or an ISO date/time with a zone: when a token expires."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        hours = {"h": 1, "d": 24, "w": 24 * 7}[unit] * amount
        if hours == 0:
            raise UsageError("an expiry must be in the future")
        return now + timedelta(hours=hours)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"not an expiry: {text!r}", hint="use 30d, 12h, 2w or 2027-01-31T00:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise UsageError(f"{text!r} has no time zone", hint="add Z or +01:00")
    if when <= now:
        raise UsageError(f"{text} is in the past")
    return when.astimezone(UTC)


def create_token(
    store: Store, name: str, person: str, *, expires_at: datetime | None = None
) -> tuple[str, TokenRecord]:
    """A new token for ``person`` (shown once) and its stored record (hash only)."""
    if not name.strip():
        raise UsageError("a token needs a name")
    active = [t for t in store.vault.tokens(person) if t.name == name and t.revoked_at is None]
    if active:
        raise UsageError(
            f"{person} already has a token called {name!r}",
            hint=f"`stageline tokens revoke {name}` first, or pick another name",
        )
    token = PREFIX + secrets.token_urlsafe(32)
    record = store.vault.add_token(name, person, token_hash(token), expires_at)
    store.append_event(
        "token.created",
        actor=person,
        data={
            "name": name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, record


def person_for_token(store: Store, token: str, *, now: datetime | None = None) -> str:
    """The person a presented token belongs to; ``Refused`` if unknown, expired or revoked."""
    record = store.vault.use_token(token_hash(token.strip()))
    now = now or datetime.now(UTC)
    if record is None:
        raise Refused("unknown token", hint="`stageline tokens create NAME` makes one")
    if record.revoked_at is not None:
        raise Refused(f"token {record.name!r} of {record.person} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Refused(
            f"token {record.name!r} of {record.person} expired"
            f" {record.expires_at:%Y-%m-%d %H:%M} UTC"
        )
    return record.person


def revoke_token(store: Store, name: str, person: str) -> int:
    count = store.vault.revoke_tokens(name, person)
    if not count:
        names = sorted({t.name for t in store.vault.tokens(person) if t.revoked_at is None})
        raise UsageError(
            f"{person} has no active token called {name!r}",
            hint=f"active: {', '.join(names) or 'none'}",
        )
    store.append_event("token.revoked", actor=person, data={"name": name})
    return count
