"""What every Acme service shares: the one way a user name is written."""

from __future__ import annotations

import re

_ALLOWED = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")


def normalize_username(raw: str) -> str:
    """``raw`` trimmed and lower-cased; ValueError unless 2-63 of ``a-z0-9._-``."""
    name = raw.strip().lower()
    if not _ALLOWED.fullmatch(name):
        raise ValueError("a user name is 2-63 characters of a-z, 0-9, '.', '_' or '-'")
    return name
