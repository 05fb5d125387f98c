"""Masking secret values wherever text leaves stageline: logs, evidence, errors, reports.

A :class:`Redactor` knows a set of secret values and replaces each occurrence with
``[secret:NAME]``. It works on whole texts (:meth:`Redactor.scrub`) and on a stream of
byte chunks (:meth:`Redactor.feed` / :meth:`Redactor.flush`), holding back only a tail
that could still be the start of a secret, so a value split across two reads is masked
too. Where secrets overlap, the longest match wins; empty values are ignored.

The process keeps a registry of every secret value it has resolved (:func:`remember`,
called by ``stageline.secrets.secrets_for``), so the CLI can mask anything it prints or
stores with :func:`scrub` without knowing which environment the text came from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stageline.gates.base import GateResult


def mask_for(name: str) -> str:
    return f"[secret:{name}]"


class Redactor:
    """Replaces the values of ``secrets`` (name -> value) by ``[secret:NAME]``."""

    def __init__(self, secrets: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        pairs = secrets.items() if isinstance(secrets, Mapping) else secrets
        by_value: dict[bytes, str] = {}
        for name, value in pairs:
            if value:
                by_value.setdefault(value.encode(), name)
        self._names = by_value
        ordered = sorted(by_value, key=len, reverse=True)  # longest first: it wins
        self._values = ordered
        self._pattern = re.compile(b"|".join(re.escape(v) for v in ordered)) if ordered else None
        self._pending = b""

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def _replace(self, match: re.Match[bytes]) -> bytes:
        return mask_for(self._names[match.group(0)]).encode()

    def scrub_bytes(self, data: bytes) -> bytes:
        return self._pattern.sub(self._replace, data) if self._pattern else data

    def scrub(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self.scrub_bytes(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

    def feed(self, chunk: bytes) -> bytes:
        """Masked bytes that are safe to write now; a possible partial secret is held back."""
        if self._pattern is None:
            return chunk
        data = self._pending + chunk
        hold = self._partial_tail(data)
        keep_from = len(data) - hold
        out: list[bytes] = []
        position = 0
        for match in self._pattern.finditer(data):
            if match.start() >= keep_from:
                break
            out.append(data[position : match.start()])
            out.append(self._replace(match))
            position = match.end()
        emit_to = max(position, keep_from)
        out.append(data[position:emit_to])
        self._pending = data[emit_to:]
        return b"".join(out)

    def flush(self) -> bytes:
        """Everything held back, masked (call at the end of the stream)."""
        rest, self._pending = self._pending, b""
        return self.scrub_bytes(rest)

    def _partial_tail(self, data: bytes) -> int:
        """The length of the longest tail of ``data`` that is a proper prefix of a secret."""
        hold = 0
        for value in self._values:
            start = max(len(data) - len(value) + 1, 0)
            while True:
                start = data.find(value[:1], start)
                if start < 0 or len(data) - start <= hold:
                    break
                if value.startswith(data[start:]):
                    hold = len(data) - start
                    break
                start += 1
        return hold

    def scrub_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string scrubbed (keys too)."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self.scrub(str(k)): self.scrub_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub_value(item) for item in value]
        return value


# -- the process-wide registry -----------------------------------------------------------

_known: dict[tuple[str, str], str] = {}
_current = Redactor({})


def remember(secrets: Mapping[str, str], *, environment: str = "") -> None:
    """Add resolved secret values to what this process masks in everything it prints."""
    global _current
    added = False
    for name, value in secrets.items():
        if value and _known.get((environment, name)) != value:
            _known[(environment, name)] = value
            added = True
    if added:
        _current = Redactor([(name, value) for (_, name), value in _known.items()])


def known() -> Redactor:
    """A redactor for every secret value this process has resolved so far."""
    return _current


def scrub(text: str) -> str:
    """``text`` with every secret value this process has seen masked."""
    return _current.scrub(text)


def scrub_value(value: Any) -> Any:
    return _current.scrub_value(value)


def forget_all() -> None:
    """Clear the registry (tests)."""
    global _current
    _known.clear()
    _current = Redactor({})


def scrub_result(result: GateResult) -> GateResult:
    """A gate result with its summary and evidence masked (before it is stored or shown)."""
    if not _current.active:
        return result
    return dataclasses.replace(
        result, summary=scrub(result.summary), evidence=scrub_value(result.evidence)
    )


def scrub_tree(folder: Path) -> int:
    """Mask known secret values inside every file under ``folder``; how many changed."""
    if not _current.active or not folder.is_dir():
        return 0
    changed = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        clean = _current.scrub_bytes(data)
        if clean != data:
            path.write_bytes(clean)
            changed += 1
    return changed


GateProgress = Callable[[str, "GateResult | None"], None]


def scrub_progress(progress: GateProgress | None) -> GateProgress | None:
    """A gate progress callback that only ever sees masked results."""
    if progress is None:
        return None
    report = progress

    def masked(name: str, result: GateResult | None) -> None:
        report(name, scrub_result(result) if result is not None else None)

    return masked
