"""Small value types every layer shares: a digest, a gate's status, how long ago, a
duration (read and written).

A leaf module: it imports nothing from stageline, so pure decisions, the store, the gates
and both renderers (CLI and dashboard) may all use it. Stored and JSON forms stay plain
strings (``str(digest)``); these types only decide how a value is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

#: a gate run's outcome, as stored, judged and shown
GateStatus = Literal["passed", "failed", "error"]

_PREFIX = "sha256:"
#: how many hex digits name an artifact on screen (folders, messages, the dashboard)
SHORT = 12


@dataclass(frozen=True)
class Digest:
    """A content digest, ``sha256:<hex>``: the identity of an artifact (or of a list of
    packages, of masking rules). ``str()`` is the full stored form."""

    value: str

    def __str__(self) -> str:
        return self.value

    @property
    def hex(self) -> str:
        """The full hex digits, without ``sha256:``."""
        return self.value.removeprefix(_PREFIX)

    @property
    def short(self) -> str:
        """The first 12 hex digits (``3f2a9c01b7de``): folder names and compact displays."""
        return self.hex[:SHORT]

    @property
    def label(self) -> str:
        """``sha256:`` and the first 12 hex digits: how messages name a digest."""
        return _PREFIX + self.short if self.value.startswith(_PREFIX) else self.short


def short(digest: str | None) -> str:
    """:attr:`Digest.short` of a stored digest; ``""`` for none."""
    return Digest(digest).short if digest else ""


def label(digest: str) -> str:
    """:attr:`Digest.label` of a stored digest."""
    return Digest(digest).label


_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[dhms])+$")


def parse_duration(text: str) -> int:
    """Seconds in ``text`` as people write it in the pipeline file ("30m", "1h30m");
    ValueError if it is not such a duration."""
    compact = text.strip().replace(" ", "")
    if not _DURATION.match(compact):
        raise ValueError(f"expected a duration like '45s', '30m', '2h' or '1d', got {text!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([dhms])", compact))
    if seconds <= 0:
        raise ValueError(f"the duration must be more than zero, got {text!r}")
    return seconds


def duration(seconds: float) -> str:
    """``seconds`` in the largest two units: "45s", "12m", "1h05m", "2d3h" (a soak's run,
    a release's wait)."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in its largest whole unit: ``42s``, ``5m``, ``3h``, ``2d``; ``""`` for
    never. (Renderers add their own words: the CLI prints ``5m ago``.)"""
    if when is None:
        return ""
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
