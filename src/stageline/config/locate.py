"""Find the line of a key in a TOML document, so config errors can say ``file:line``.

``tomllib`` gives values without positions; this scanner reads the text once and maps
every dotted key path it sees (table headers, ``key = value`` lines, dotted keys, and
the keys of one-line inline tables) to its line. Lookups of a path that was not seen
fall back to its nearest ancestor, which is always a useful place to point at.
"""

from __future__ import annotations

import re

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=\s*(.*)$")
_INLINE_KEY = re.compile(rf"(?:^|[{{,])\s*({_DOTTED})\s*=")

Path = tuple[str, ...]


def _split(dotted: str) -> Path:
    parts = re.findall(_KEY, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


class KeyLines:
    """Map from dotted key paths (tuples) to 1-based line numbers."""

    def __init__(self, text: str, prefix: Path = ()) -> None:
        self._lines: dict[Path, int] = {}
        self._prefix = prefix
        self._scan(text)

    def _scan(self, text: str) -> None:
        table: Path = ()
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if in_multiline in line:
                    in_multiline = None
                continue
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            header = _HEADER.match(line)
            if header and not _ASSIGN.match(line):
                table = _split(header.group(2))
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            path = table + _split(assign.group(1))
            self._lines.setdefault(path, number)
            value = assign.group(2)
            for quote in ('"""', "'''"):
                if value.startswith(quote) and value.count(quote) == 1:
                    in_multiline = quote
            if value.startswith("{"):
                for inner in _INLINE_KEY.finditer(value):
                    self._lines.setdefault(path + _split(inner.group(1)), number)

    def line(self, path: Path) -> int | None:
        """The line of ``path`` (relative to the prefix), or of its nearest ancestor."""
        full = self._prefix + tuple(path)
        while full:
            if full in self._lines:
                return self._lines[full]
            full = full[:-1]
        return None

    def has(self, path: Path) -> bool:
        return (self._prefix + tuple(path)) in self._lines


def table_headers(text: str) -> dict[Path, int]:
    """Each ``[table]`` header's key path -> its 0-based line index (``[[array]]``
    headers are not tables one can add keys to, and are left out)."""
    found: dict[Path, int] = {}
    for index, line in enumerate(text.splitlines()):
        header = _HEADER.match(line)
        if header and header.group(1) == "[" and not _ASSIGN.match(line):
            found.setdefault(_split(header.group(2)), index)
    return found
