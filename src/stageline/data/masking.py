"""Pure, deterministic, keyed transformers: one column value in, its masked value out.

Every fake value is picked by the bytes of ``HMAC-SHA256(mask key, value)``: the same
input gives the same output in every table and every snapshot under one key (joins line
up), a different key gives different outputs, and nobody without the key can map an
output back by guessing inputs. ``hash`` and ``email`` carry 64+ bits of the HMAC, so a
unique column stays unique; the other fakes look natural and may repeat.

Each :class:`ColumnMasker` also reports the *source* strings it hid (the whole value, or
a JSON key's leaves, plus any e-mail address inside), for the leak-scan fingerprints.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from stageline.data.copytext import NULL, decode_field, encode_field
from stageline.data.rules import ColumnRule
from stageline.data.words import (
    CITIES,
    DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_KINDS,
    STREETS,
    WORDS,
)

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
MIN_FINGERPRINT_LENGTH = 4
CACHE_SIZE = 50_000  # outputs remembered per transformer (repeats: the same e-mail in orders)
_MISS = object()
_FAKE_FIRST = frozenset(name.casefold() for name in FIRST_NAMES)
_FAKE_LAST = frozenset(name.casefold() for name in LAST_NAMES)
_FAKE_DOMAINS = tuple("@" + domain for domain in DOMAINS)


@dataclass(frozen=True)
class MaskingKey:
    """The secret behind every masked value and fingerprint (never stored with them)."""

    raw: bytes = field(repr=False)

    def _derive(self, purpose: bytes) -> bytes:
        return hmac.digest(self.raw, b"stageline:" + purpose, "sha256")

    @property
    def mask(self) -> bytes:
        return self._derive(b"mask")

    @property
    def fingerprint(self) -> bytes:
        return self._derive(b"fingerprint")

    @property
    def key_id(self) -> str:
        """A public name for the key (which key made a fingerprint file), not the key."""
        return self._derive(b"id")[:8].hex()


class KeyedHash:
    """HMAC-SHA256 under one key, with the padded key's states computed once (about 4x
    faster than ``hmac.digest`` per call; the same bytes)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    @property
    def states(self) -> tuple[Any, Any]:
        """The inner and outer hash states, for loops that inline the HMAC."""
        return self._inner, self._outer

    def __call__(self, data: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


Leaf = Callable[[str, bytes], str | None]


def _email(value: str, d: bytes) -> str:
    tag = d[3:11].hex()
    first, last = FIRST_NAMES[d[0] & 63].lower(), LAST_NAMES[d[1] & 63].lower()
    return f"{first}.{last}.{tag}@{DOMAINS[d[2] & 3]}"


def _name(value: str, d: bytes) -> str:
    return f"{FIRST_NAMES[d[0] & 63]} {LAST_NAMES[d[1] & 63]}"


def _phone(value: str, d: bytes) -> str:
    return f"+1-{200 + int.from_bytes(d[0:2]) % 800}-555-01{d[2] % 100:02d}"


def _address(value: str, d: bytes) -> str:
    number = 1 + int.from_bytes(d[0:2]) % 9999
    return f"{number} {STREETS[d[2] & 31]} {STREET_KINDS[d[3] & 7]}, {CITIES[d[4] & 31]}"


def _text(value: str, d: bytes) -> str:
    count = max(1, min(64, len(value) // 7))
    stream = d
    while len(stream) < count:
        stream += hashlib.sha256(stream).digest()
    words = [WORDS[b] for b in stream[:count]]
    return " ".join(words).capitalize() + "."


def _ip(value: str, d: bytes) -> str:
    suffix = value[value.index("/") :] if "/" in value else ""
    if ":" in value:
        groups = [d[i : i + 2].hex() for i in range(0, 14, 2)]
        return "fd00:" + ":".join(groups) + (suffix if suffix in ("", "/128") else "")
    return f"10.{d[0]}.{d[1]}.{d[2]}" + (suffix if suffix in ("", "/32") else "")


def _hash(value: str, d: bytes) -> str:
    return d[:16].hex()


LEAVES: dict[str, Leaf] = {
    "null": lambda value, d: None,
    "redact": lambda value, d: "[redacted]",
    "hash": _hash,
    "email": _email,
    "name": _name,
    "phone": _phone,
    "address": _address,
    "text": _text,
    "ip": _ip,
}


def shift_date(value: str, d: bytes, days: int) -> str:
    """Move an ISO date (or timestamp) by -days..+days, chosen by ``d``; keeps the rest."""
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:  # infinity, BC dates: nothing personal to shift
        return value
    offset = int.from_bytes(d[:4]) % (2 * days + 1) - days
    try:
        moved = day + timedelta(days=offset)
    except OverflowError:
        return value
    return moved.isoformat() + value[10:]


Memo = dict[str, dict[str, str | None]]


class ColumnMasker:
    """Masks one column's values under one rule and key; NULL stays NULL (done by caller).

    ``memo`` (shared by the maskers of one snapshot) remembers each transformer's outputs:
    a repeated value (the same e-mail in users and orders) is masked, and reported as
    hidden, only once.
    """

    def __init__(
        self,
        rule: ColumnRule,
        key: MaskingKey,
        max_length: int | None = None,
        memo: Memo | None = None,
    ) -> None:
        self.rule = rule
        self._hash = KeyedHash(key.mask)
        self._max = max_length
        self._memo: Memo = memo if memo is not None else {}
        self._key_names = dict(rule.keys)

    def _digest(self, value: str) -> bytes:
        return self._hash(value.encode("utf-8", "surrogatepass"))

    def apply(self, value: str, hidden: list[str]) -> str | None:
        """The masked value; appends the source strings it hid to ``hidden``."""
        mask = self.rule.mask
        if mask == "keep":
            return value
        if mask == "date":
            return shift_date(value, self._digest(value), self.rule.days)
        if mask == "json":
            return self._json(value, hidden)
        if mask == "constant":
            hidden.append(value)
            return self.rule.value
        out = self._leaf(mask, value, hidden)
        if out is not None and self._max is not None and len(out) > self._max:
            out = out[: self._max]
        return out

    def apply_fields(self, fields: list[bytes], hidden: list[str]) -> list[bytes]:
        """A whole column of COPY text fields at once (the fast path of a snapshot)."""
        mask = self.rule.mask
        if mask not in LEAVES or self._max is not None:
            return [
                f if f == NULL else encode_field(self.apply(decode_field(f), hidden))
                for f in fields
            ]
        memo = self._memo.get("bytes:" + mask)
        if memo is None:
            memo = self._memo["bytes:" + mask] = {}
        seen: dict[bytes, bytes] = memo  # type: ignore[assignment]
        leaf, get, append = LEAVES[mask], seen.get, hidden.append
        inner, outer = self._hash.states
        out: list[bytes] = []
        for raw in fields:
            done = get(raw)
            if done is None:
                if raw == NULL:
                    out.append(raw)
                    continue
                value = decode_field(raw)
                append(value)
                h = inner.copy()
                h.update(value.encode("utf-8", "surrogatepass"))
                o = outer.copy()
                o.update(h.digest())
                done = encode_field(leaf(value, o.digest()))
                if len(seen) >= CACHE_SIZE:
                    seen.clear()
                seen[raw] = done
            out.append(done)
        return out

    def _leaf(self, mask: str, value: str, hidden: list[str]) -> str | None:
        memo = self._memo.get(mask)
        if memo is None:
            memo = self._memo[mask] = {}
        out = memo.get(value, _MISS)
        if out is _MISS:
            hidden.append(value)
            out = LEAVES[mask](value, self._hash(value.encode("utf-8", "surrogatepass")))
            if len(memo) >= CACHE_SIZE:
                memo.clear()
            memo[value] = out
        return out  # type: ignore[return-value]

    def _json(self, value: str, hidden: list[str]) -> str:
        try:
            doc = json.loads(value)
        except ValueError:
            hidden.append(value)
            return "null"
        masked = self._walk(doc, None, hidden)
        return json.dumps(masked, ensure_ascii=False, separators=(", ", ": "))

    def _walk(self, node: Any, leaf: str | None, hidden: list[str]) -> Any:
        if isinstance(node, dict):
            names, out = self._key_names, {}
            for k, v in node.items():
                under = names.get(k, leaf)
                if under is None:
                    out[k] = self._walk(v, None, hidden) if isinstance(v, dict | list) else v
                elif isinstance(v, str):
                    out[k] = self._leaf(under, v, hidden)
                else:
                    out[k] = self._walk(v, under, hidden)
            return out
        if isinstance(node, list):
            return [self._walk(item, leaf, hidden) for item in node]
        if leaf is None or node is None:
            return node
        text = node if isinstance(node, str) else json.dumps(node)
        return self._leaf(leaf, text, hidden)


def normalize(value: str) -> str:
    return value.strip().casefold()


def fingerprintable(norm: str) -> bool:
    """Worth a fingerprint: long enough, and not something our own fakes could produce."""
    if len(norm) < MIN_FINGERPRINT_LENGTH:
        return False
    if "@" in norm and norm.endswith(_FAKE_DOMAINS):
        return False
    parts = norm.split(" ")
    return not (len(parts) == 2 and parts[0] in _FAKE_FIRST and parts[1] in _FAKE_LAST)


def fingerprint(fp_hash: KeyedHash, norm: str) -> int:
    """A 64-bit keyed fingerprint of a normalized value."""
    return int.from_bytes(fp_hash(norm.encode("utf-8", "surrogatepass"))[:8])


def candidates(value: str) -> list[str]:
    """The normalized strings of ``value`` a leak scan looks up: it, and e-mails inside."""
    norm = normalize(value)
    found = [norm] if fingerprintable(norm) else []
    if "@" in norm and (" " in norm or "<" in norm or "," in norm or ";" in norm):
        inside = (normalize(m) for m in EMAIL_RE.findall(value))
        found += [e for e in inside if e != norm and fingerprintable(e)]
    return found
