"""Durations as people write them in the pipeline file ("30m", "1h30m") and read them in
summaries ("1h05m"), both ways (pure, standard library only)."""

from __future__ import annotations

import re

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:\d+[dhms])+$")


def parse_duration(text: str) -> int:
    """Seconds in ``text`` ("30m", "1h30m"); ValueError if it is not such a duration."""
    compact = text.strip().replace(" ", "")
    if not _DURATION.match(compact):
        raise ValueError(f"expected a duration like '45s', '30m', '2h' or '1d', got {text!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)([dhms])", compact))
    if seconds <= 0:
        raise ValueError(f"the duration must be more than zero, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``seconds`` in the largest two units: "45s", "12m", "1h05m", "2d3h"."""
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
