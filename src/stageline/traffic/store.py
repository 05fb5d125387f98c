"""Where an environment's traffic profile lives on disk: ``envs/<env>/traffic/`` under
the ``.stageline`` folder, beside the environment's releases and logs.

::

    envs/<env>/traffic/2026-12-05.jsonl   one line per minute (or part of one), UTC day

A line is :meth:`MinuteRecord.to_json` (routes and numbers only). The front appends once
a minute (and when it stops); readers (``stageline traffic``, the ``load`` gate) read the
days they need and skip a line they cannot parse (a torn last line after a crash).

Bounded twice: days older than ``RETAIN_DAYS`` are deleted when the front writes, and
when the folder holds more than ``MAX_BYTES`` the oldest days go first; if today's file
alone is over the cap, new minutes are dropped (and the front logs it) until tomorrow.
The fronts never open the state store: this folder is all they write.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from stageline.traffic.minutes import MinuteRecord

log = logging.getLogger("stageline.traffic")

RETAIN_DAYS = 7
MAX_BYTES = 32 * 1024 * 1024
SUFFIX = ".jsonl"


def traffic_dir(home: Path, environment: str) -> Path:
    """The folder of ``environment``'s traffic profile under the ``.stageline`` folder."""
    return home / "envs" / environment / "traffic"


def _day(start: int) -> date:
    return datetime.fromtimestamp(start, UTC).date()


class TrafficStore:
    """The profile files of one environment (see the module docstring)."""

    def __init__(self, folder: Path, *, retain_days: int = RETAIN_DAYS, max_bytes: int = MAX_BYTES):
        self.folder = folder
        self.retain_days, self.max_bytes = retain_days, max_bytes

    @staticmethod
    def line(record: MinuteRecord) -> str:
        """The line of ``record`` in a day file, with its newline."""
        return json.dumps(record.to_json(), separators=(",", ":")) + "\n"

    def days(self) -> list[Path]:
        """The day files, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name.endswith(SUFFIX))

    def append(self, records: Iterable[MinuteRecord], now: datetime | None = None) -> int:
        """Write ``records`` (each to its day's file), after pruning to make room; returns
        how many were written (fewer when today's file alone reaches the size cap)."""
        today = (now or datetime.now(UTC)).date()
        by_day: dict[date, list[str]] = {}
        for record in records:
            by_day.setdefault(_day(record.start), []).append(self.line(record))
        texts = {day: "".join(lines) for day, lines in sorted(by_day.items())}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prune(today, room_for=sum(len(text) for text in texts.values()))
        written, room = 0, self.max_bytes - self._size()
        for day, text in texts.items():
            if len(text) > room:
                log.warning("traffic: %s reached its cap: minutes dropped", self.folder)
                break
            with (self.folder / f"{day.isoformat()}{SUFFIX}").open("a", encoding="utf-8") as f:
                f.write(text)
            written, room = written + len(by_day[day]), room - len(text)
        return written

    def prune(self, today: date, room_for: int = 0) -> None:
        """Delete days older than the window, then the oldest days until ``room_for``
        more bytes fit under the cap (never ``today``'s file)."""
        oldest = today - timedelta(days=self.retain_days)
        for path in self.days():
            day = _file_day(path)
            if day is None or day < oldest:
                path.unlink(missing_ok=True)
        size = self._size()
        for path in self.days():
            if size + room_for <= self.max_bytes or _file_day(path) == today:
                break
            size -= path.stat().st_size
            path.unlink(missing_ok=True)

    def read(self, since: datetime, until: datetime) -> list[MinuteRecord]:
        """The records of the minutes that overlap ``[since, until)``, in file order."""
        first, last = int(since.timestamp()), int(until.timestamp())
        days = (since.astimezone(UTC).date(), until.astimezone(UTC).date())
        found: list[MinuteRecord] = []
        for path in self.days():
            day = _file_day(path)
            if day is None or not days[0] <= day <= days[1]:
                continue
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                record = _parse(line)
                if record is not None and first < record.start + 60 and record.start < last:
                    found.append(record)
        return found

    def routes(self, since: datetime, until: datetime) -> set[str]:
        """Every route recorded in ``[since, until)``."""
        return {route for record in self.read(since, until) for route in record.routes}

    def _size(self) -> int:
        return sum(p.stat().st_size for p in self.days())


def _file_day(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.name.removesuffix(SUFFIX))
    except ValueError:
        return None


def _parse(line: str) -> MinuteRecord | None:
    try:
        return MinuteRecord.from_json(json.loads(line))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
