"""Masking secret values wherever text leaves stageline: logs, evidence, errors, reports.

A :class:`Redactor` knows a set of secret values and replaces each occurrence with
``[secret:NAME]``. It works on whole texts (:meth:`Redactor.scrub`) and on a stream of
byte chunks (:meth:`Redactor.feed` / :meth:`Redactor.flush`), holding back only a tail
that could still be the start of a secret, so a value split across two reads is masked
too. Where secrets overlap, the longest match wins; empty values are ignored.

A value shorter than :data:`MIN_SECRET_LENGTH` is refused wherever one comes in
(:func:`check_maskable`): ``GET`` as a secret would be masked inside every request line,
and the masks would tell anyone reading the log what it is.

The process keeps a registry of every secret value it has resolved (:func:`remember`,
called by ``stageline.usecases.secrets.secrets_for``), so the CLI can mask anything it prints or
stores with :func:`scrub` without knowing which environment the text came from.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stageline.errors import UsageError

if TYPE_CHECKING:
    from stageline.gates.base import GateResult

#: the shortest secret value accepted: a shorter one turns up inside ordinary text, and
#: masking it there would reveal it
MIN_SECRET_LENGTH = 8


def mask_for(name: str) -> str:
    return f"[secret:{name}]"


def check_maskable(what: str, value: str) -> str:
    """``value`` unchanged if it is long enough to mask safely; else a ``UsageError``
    naming the secret (``what``) and :data:`MIN_SECRET_LENGTH`, never the value."""
    if len(value) < MIN_SECRET_LENGTH:
        raise UsageError(
            f"secret {what} is {len(value)} characters long; a secret needs at least "
            f"{MIN_SECRET_LENGTH} characters to be masked safely",
            hint="use a longer value: a short one turns up, masked and so revealed, "
            "inside ordinary text (nothing was stored or used)",
        )
    return value


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
    """A gate result with its summary and evidence masked (before it is stored or shown):
    known secret values, and credentials whatever their value (:func:`drop_credentials`)."""
    evidence, captured = drop_credentials(result.evidence)
    cleaner = Redactor([*_known_pairs(), *captured.items()])
    return dataclasses.replace(
        result,
        summary=drop_credentials_text(cleaner.scrub(result.summary)),
        evidence=cleaner.scrub_value(evidence),
    )


def _known_pairs() -> list[tuple[str, str]]:
    return [(name, value) for (_, name), value in _known.items()]


# -- credentials by their shape ----------------------------------------------------------

#: names whose values are credentials, wherever they appear (JSON keys, form fields,
#: query parameters, headers, captured variables)
CREDENTIAL_NAME = re.compile(
    r"passw(?:or)?d|passwd|secret|token|api[_-]?key|authorization|cookie|jwt|credential",
    re.IGNORECASE,
)
REDACTED = "[redacted]"
_NAME = r"[A-Za-z0-9_.\-]*(?:" + CREDENTIAL_NAME.pattern + r")[A-Za-z0-9_.\-]*"
_HEADER_LINE = re.compile(
    r"(?im)^(\s*(?:authorization|proxy-authorization|cookie|set-cookie)\s*:\s*)[^\r\n]+"
)
_JSON_PAIR = re.compile(r'(?i)("' + _NAME + r'"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)')
_FORM_PAIR = re.compile(r"(?i)((?:^|[?&;\s])" + _NAME + r"=)([^&\s#\"']*)")


def drop_credentials_text(text: str) -> str:
    """``text`` with the values of credential-like fields replaced by ``[redacted]``:
    ``Authorization``/``Cookie``/``Set-Cookie`` header lines, JSON pairs and
    form or query fields whose name matches :data:`CREDENTIAL_NAME`."""
    if not text:
        return text
    text = _HEADER_LINE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _JSON_PAIR.sub(lambda m: m.group(1) + '"' + REDACTED + '"', text)
    return _FORM_PAIR.sub(lambda m: m.group(1) + REDACTED, text)


def drop_credentials(value: Any) -> tuple[Any, dict[str, str]]:
    """A copy of JSON-like evidence without credentials, and the credential values that
    were *captured* (an http gate's ``captured`` maps, by name or by its
    ``captured_from`` JSON path) so the caller can mask them wherever they were reused
    (a later request's URL or body)."""
    captured: dict[str, str] = {}

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return drop_credentials_text(item)
        if isinstance(item, list | tuple):
            return [walk(part) for part in item]
        if not isinstance(item, Mapping):
            return item
        sources = item.get("captured_from")
        paths = sources if isinstance(sources, Mapping) else {}
        found = item.get("captured")
        if isinstance(found, Mapping):
            for name, got in found.items():
                sensitive = _is_credential(str(name)) or _is_credential(str(paths.get(name, "")))
                if (
                    sensitive
                    and isinstance(got, str | int | float)
                    and str(got) not in ("", REDACTED)
                ):
                    captured[f"captured:{name}"] = str(got)
        return {
            key: REDACTED if _is_credential(str(key)) and _scalar(sub) else walk(sub)
            for key, sub in item.items()
        }

    return walk(value), captured


def _is_credential(name: str) -> bool:
    return bool(name) and CREDENTIAL_NAME.search(name) is not None


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(value, Mapping | list | tuple | bool)


def scrub_tree(folder: Path) -> int:
    """Mask known secret values, and credentials by their shape, inside every file under
    ``folder``; how many changed."""
    if not folder.is_dir():
        return 0
    changed = 0
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        clean = _current.scrub_bytes(data)
        if b"\0" not in clean:  # a text file: credentials by their shape too
            text = clean.decode("utf-8", "surrogateescape")
            clean = drop_credentials_text(text).encode("utf-8", "surrogateescape")
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
