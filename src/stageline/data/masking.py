"""Pure, deterministic, keyed transformers: one column value in, its masked value out.

Every fake value is picked by the bytes of ``HMAC-SHA256(mask key, value)``: the same
input gives the same output in every table and every snapshot under one key (joins line
up), a different key gives different outputs, and nobody without the key can map an
output back by guessing inputs. ``hash`` and ``email`` carry 64+ bits of the HMAC, so a
unique column stays unique; the other fakes look natural and may repeat.

Each :class:`ColumnMasker` also records a fingerprint of every *source* string it hid (the
whole value, or a JSON key's leaves, plus any e-mail address inside) in :class:`Prints`,
for the leak scan. A fingerprint is the first 8 bytes of the same keyed HMAC, taken over
the normalized string (stripped, case-folded): for the common value that is already
normalized it is the digest the mask was picked by, so it costs nothing more.

The Python here is the reference. :mod:`stageline._speedups` (C, built when a compiler
and OpenSSL's headers are at hand) does the same for the common case, a plain ASCII
value, byte for byte, and hands every other value back to it; ``STAGELINE_PURE_PYTHON=1``
turns it off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from array import array
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
_NOTHING: dict[bytes, bytes] = {}
_FAKE_FIRST = frozenset(name.casefold() for name in FIRST_NAMES)
_FAKE_LAST = frozenset(name.casefold() for name in LAST_NAMES)
_FAKE_DOMAINS = tuple("@" + domain for domain in DOMAINS)
_FIRST_LOWER = tuple(name.lower() for name in FIRST_NAMES)
_LAST_LOWER = tuple(name.lower() for name in LAST_NAMES)
# what the C masks pick from, in the order stageline._speedups.Masker takes them
WORD_TABLES = (
    _FIRST_LOWER, _LAST_LOWER, DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS, STREET_KINDS, CITIES,
    WORDS,
)  # fmt: skip
FAST_COLUMN = frozenset({"null", "redact", "hash", "email", "name", "phone", "address", "text",
                         "ip", "date"})  # fmt: skip
FAST_KEY = FAST_COLUMN - {"date"}

try:
    from stageline import _speedups
except ImportError:  # installed without a C compiler: the Python below does it all
    _speedups = None  # type: ignore[assignment]


def accelerated() -> bool:
    """Whether the C masks are there and wanted (``STAGELINE_PURE_PYTHON=1``: not)."""
    return _speedups is not None and os.environ.get("STAGELINE_PURE_PYTHON") != "1"


def c_masks(key: MaskingKey) -> _speedups.Masker | None:
    """The C masks (and leak scan) under ``key``, when they are there and wanted."""
    return _speedups.Masker(key.mask, WORD_TABLES) if accelerated() else None


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
    return f"{_FIRST_LOWER[d[0] & 63]}.{_LAST_LOWER[d[1] & 63]}.{d[3:11].hex()}@{DOMAINS[d[2] & 3]}"


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
        groups = [d[i : i + 2].hex() for i in range(0, 12, 2)]
        return "2001:db8:" + ":".join(groups) + (suffix if suffix in ("", "/128") else "")
    # 240.0.0.0/4 and 2001:db8::/32 (documentation) belong to no host: a fake never equals
    # a production address, even one from the private ranges behind a proxy
    return f"{240 + (d[0] & 15)}.{d[1]}.{d[2]}.{d[3]}" + (suffix if suffix in ("", "/32") else "")


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
# what the C masks need of one column: kind (or a json column's keys), limit, days, and
# the Python that masks a field they cannot
BlockSpec = tuple[str | dict[str, str], int, int, Callable[[bytes], bytes]]


class ColumnMasker:
    """Masks one column's values under one rule and key; NULL stays NULL (done by caller).

    ``memo`` (shared by the maskers of one snapshot) remembers each transformer's outputs:
    a repeated value (the same e-mail in users and orders) is masked, and fingerprinted,
    only once.
    """

    def __init__(
        self,
        rule: ColumnRule,
        key: MaskingKey,
        max_length: int | None = None,
        memo: Memo | None = None,
        accelerate: bool = True,
    ) -> None:
        self.rule = rule
        self._hash = KeyedHash(key.mask)
        self._max = max_length
        self._memo: Memo = memo if memo is not None else {}
        self._key_names: dict[str, str] = dict(rule.keys)
        self._remember = True
        self._prints: Prints | None = None  # where the JSON value being parsed records
        # made once: json.loads and json.dumps with options build a new one every call
        self._decoder = json.JSONDecoder(object_pairs_hook=self._object)
        self._encoder = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))
        self.key = key
        self._fast = c_masks(key) if accelerate else None

    @property
    def accelerator(self) -> _speedups.Masker | None:
        """The C masks under this masker's key, when they are there."""
        return self._fast

    def _fast_what(self) -> str | dict[str, str] | None:
        """What the C masks take this column as: its kind, or a json column's keys;
        None: they do not take it (keep, constant, a json key of a kind they lack)."""
        mask = self.rule.mask
        if self._fast is None:
            return None
        if mask in FAST_COLUMN:
            return mask
        if mask == "json" and FAST_KEY.issuperset(self._key_names.values()):
            return self._key_names
        return None

    def block_spec(self, prints: Prints) -> BlockSpec | None:
        """How :meth:`stageline._speedups.Masker.block` masks this column inside whole
        rows (a value it cannot take goes back to the Python here); None: it cannot."""
        what = self._fast_what()
        if what is None:
            return None

        def one(field: bytes) -> bytes:
            return self._apply_python([field], prints)[0]

        return what, -1 if self._max is None else self._max, self.rule.days, one

    def _digest(self, value: str) -> bytes:
        return self._hash(value.encode("utf-8", "surrogatepass"))

    def apply(self, value: str, prints: Prints | None = None) -> str | None:
        """The masked value; the fingerprints of the source strings it hid go to
        ``prints``."""
        mask = self.rule.mask
        if mask == "keep":
            return value
        if mask == "date":
            return shift_date(value, self._digest(value), self.rule.days)
        if mask == "json":
            return self._json(value, prints)
        if mask == "constant":
            # a row that holds the constant already shows nothing the rule hides; taking
            # its print would make the scan flag every masked row of the column
            if prints is not None and value != self.rule.value:
                prints.add_string(self._hash, value)
            return self.rule.value
        out = self._leaf(mask, value, prints)
        if out is not None and self._max is not None and len(out) > self._max:
            out = out[: self._max]
        return out

    def apply_fields(self, fields: list[bytes], prints: Prints) -> list[bytes]:
        """A whole column of COPY text fields at once (the fast path of a snapshot); the
        fingerprints of the values hidden go to ``prints``."""
        fast, what = self._fast, self._fast_what()
        if fast is None or what is None:
            return self._apply_python(fields, prints)
        if isinstance(what, str):
            out = fast.column(what, fields, -1 if self._max is None else self._max, self.rule.days)
        else:
            out = fast.json_column(what, fields)
        prints.add_packed(fast.drain())
        if None in out:  # not plain ASCII, an escape, e-mails inside: the Python masks it
            slow = [i for i, done in enumerate(out) if done is None]
            redone = self._apply_python([fields[i] for i in slow], prints)
            for i, done in zip(slow, redone, strict=True):
                out[i] = done
        return out  # type: ignore[return-value]

    def _apply_python(self, fields: list[bytes], prints: Prints) -> list[bytes]:
        mask = self.rule.mask
        leaf = LEAVES.get(mask)
        if leaf is None and mask != "date":  # json, constant, keep: value by value
            return [
                f if f == NULL else encode_field(self.apply(decode_field(f), prints))
                for f in fields
            ]
        memo_name = f"bytes:{mask}:{self._max}:{self.rule.days}"
        memo = self._memo.get(memo_name)
        if memo is None:
            memo = self._memo[memo_name] = {}
        seen: dict[bytes, bytes] = memo  # type: ignore[assignment]
        remember = self._remember
        get = seen.get if remember else _NOTHING.get
        limit, days, hits = self._max, self.rule.days, 0
        inner, outer = self._hash.states
        out: list[bytes] = []
        for raw in fields:
            done = get(raw)
            if done is None:
                if raw == NULL:
                    out.append(raw)
                    continue
                if b"\\" in raw:
                    value = decode_field(raw)
                    data = value.encode("utf-8", "surrogatepass")
                else:  # the same bytes, for the UTF-8 PostgreSQL sends
                    value, data = raw.decode("utf-8", "surrogateescape"), raw
                h = inner.copy()
                h.update(data)
                o = outer.copy()
                o.update(h.digest())
                d = o.digest()
                if leaf is None:  # a date: shifted, not fingerprinted (nothing personal alone)
                    result: str | None = shift_date(value, d, days)
                else:
                    result = leaf(value, d)
                    if result != value:  # a fake that is the value itself hides nothing
                        prints.add_digest(self._hash, value, d)
                if result is None:
                    done = NULL
                else:
                    if limit is not None and len(result) > limit:
                        result = result[:limit]
                    # a fake holds no tab, newline or backslash: nothing to escape
                    done = encode_field(result) if leaf is None else result.encode()
                if remember:
                    if len(seen) >= CACHE_SIZE:
                        seen.clear()
                    seen[raw] = done
            else:
                hits += 1
            out.append(done)
        if remember and len(fields) >= 1000 and hits * 20 < len(fields):
            self._remember = False  # a column of distinct values: the memo only costs
        return out

    def _leaf(self, mask: str, value: str, prints: Prints | None) -> str | None:
        fast = self._fast
        if fast is not None and mask != "null":
            quick = fast.one(mask, value)
            if quick is not None:
                packed = fast.drain()
                if prints is not None:
                    prints.add_packed(packed)
                return quick
        memo = self._memo.get(mask)
        if memo is None:
            memo = self._memo[mask] = {}
        out = memo.get(value, _MISS)
        if out is _MISS:
            d = self._digest(value)
            out = LEAVES[mask](value, d)
            if prints is not None and out != value:  # else it hides nothing
                prints.add_digest(self._hash, value, d)
            if len(memo) >= CACHE_SIZE:
                memo.clear()
            memo[value] = out
        return out  # type: ignore[return-value]

    def _json(self, value: str, prints: Prints | None) -> str:
        self._prints = prints
        try:
            doc = self._decoder.decode(value)
        except ValueError:
            if prints is not None:
                prints.add_string(self._hash, value)
            return "null"
        return self._encoder.encode(doc)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        """One JSON object as it is parsed (innermost first): the values of the keys
        with a rule are masked under it."""
        doc = dict(pairs)
        for name, leaf in self._key_names.items():
            if name in doc:
                doc[name] = self._under(doc[name], leaf)
        return doc

    def _under(self, node: Any, leaf: str) -> Any:
        """Every leaf of ``node`` masked by ``leaf``, except below keys that have a rule
        of their own (:meth:`_object` did those already)."""
        if isinstance(node, str):
            return self._leaf(leaf, node, self._prints)
        if isinstance(node, dict):
            names = self._key_names
            return {k: v if k in names else self._under(v, leaf) for k, v in node.items()}
        if isinstance(node, list):
            return [self._under(item, leaf) for item in node]
        if node is None:
            return None
        return self._leaf(leaf, json.dumps(node), self._prints)


def normalize(value: str) -> str:
    return value.strip().casefold()


def fingerprintable(norm: str) -> bool:
    """Worth looking up: long enough, and not something our own fakes could produce."""
    if len(norm) < MIN_FINGERPRINT_LENGTH:
        return False
    if "@" in norm and norm.endswith(_FAKE_DOMAINS):
        return False
    parts = norm.split(" ")
    return not (len(parts) == 2 and parts[0] in _FAKE_FIRST and parts[1] in _FAKE_LAST)


def fingerprint(keyed: KeyedHash, norm: str) -> int:
    """A 64-bit keyed fingerprint of a normalized value (``keyed``: the mask key's HMAC)."""
    return int.from_bytes(keyed(norm.encode("utf-8", "surrogatepass"))[:8])


def candidates(value: str) -> list[str]:
    """The normalized strings of ``value`` a leak scan looks up: it, and e-mails inside."""
    norm = normalize(value)
    found = [norm] if fingerprintable(norm) else []
    if "@" in norm and (" " in norm or "<" in norm or "," in norm or ";" in norm):
        inside = (normalize(m) for m in EMAIL_RE.findall(value))
        found += [e for e in inside if e != norm and fingerprintable(e)]
    return found


class Prints:
    """The fingerprints of the source strings a snapshot hid: 64-bit integers, with
    repeats until :func:`stageline.data.fingerprints.collected` sorts them into a set.

    Every string long enough is recorded (the leak scan's lookups skip strings our own
    fakes could produce, so recording those too costs only space)."""

    def __init__(self) -> None:
        self.values = array("Q")

    def __len__(self) -> int:
        return len(self.values)

    def add_digest(self, keyed: KeyedHash, value: str, d: bytes) -> None:
        """Record ``value``, whose keyed digest ``d`` is (reused when it is normalized)."""
        norm = normalize(value)
        if len(norm) >= MIN_FINGERPRINT_LENGTH:
            self.values.append(int.from_bytes(d[:8]) if norm == value else fingerprint(keyed, norm))
        if "@" in norm and (" " in norm or "<" in norm or "," in norm or ";" in norm):
            self.add_emails_in(keyed, value, norm)

    def add_string(self, keyed: KeyedHash, value: str) -> None:
        """Record ``value`` (its normalized form, and e-mails inside it)."""
        self.add_digest(keyed, value, keyed(value.encode("utf-8", "surrogatepass")))

    def add_emails_in(self, keyed: KeyedHash, value: str, norm: str) -> None:
        for match in EMAIL_RE.findall(value):
            email = normalize(match)
            if email != norm and len(email) >= MIN_FINGERPRINT_LENGTH:
                self.values.append(fingerprint(keyed, email))

    def add_packed(self, raw: bytes) -> None:
        """Record fingerprints packed as native unsigned 64-bit integers (what the C
        masks and :meth:`to_bytes` give)."""
        self.values.frombytes(raw)

    def to_bytes(self) -> bytes:
        """Everything, for another process."""
        return self.values.tobytes()

    add_bytes = add_packed
