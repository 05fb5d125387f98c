"""Keyed fingerprints of the production values a snapshot masked: a compact, sorted set.

A fingerprint is the first 8 bytes of ``HMAC-SHA256(mask key, normalized value)``
(see :mod:`stageline.data.masking`): it proves "this value was in production" to
whoever holds the key, and tells nobody else anything. The file, kept beside the
snapshot's record as ``.stageline/snapshots/<name>/fingerprints.bin``, is a header (magic,
the key's public id, count) followed by sorted little-endian unsigned 64-bit integers.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path

from stageline.data.masking import MaskingKey, Prints, accelerated

MAGIC = b"SLFP2\0\0\0"
# version 1 fingerprinted under a key of its own: those files cannot be looked up now
OLD_MAGIC = b"SLFP1\0\0\0"
_HEADER = struct.Struct("<8s8sQ")


def collected(prints: Prints, key: MaskingKey) -> Fingerprints:
    """The sorted set of everything ``prints`` gathered (which is emptied)."""
    values, prints.values = prints.values, array("Q")
    merged = array("Q")
    if accelerated():
        from stageline import _speedups

        merged.frombytes(_speedups.sort_unique(values))
        return Fingerprints(key.key_id, merged)
    # in Python: 256 buckets by the top byte, each sorted on its own (a set of all
    # 13 million at once would take gigabytes)
    buckets = [array("Q") for _ in range(256)]
    for fp in values:
        buckets[fp >> 56].append(fp)
    del values
    for bucket in buckets:
        merged.extend(sorted(set(bucket)))
        bucket[:] = array("Q")
    return Fingerprints(key.key_id, merged)


@dataclass
class Fingerprints:
    """A sorted set of fingerprints made under the key named ``key_id``."""

    key_id: str
    values: array = field(default_factory=lambda: array("Q"))  # type: ignore[type-arg]

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, item: int) -> bool:
        i = bisect_left(self.values, item)
        return i < len(self.values) and self.values[i] == item

    def without(self, excluded: set[int]) -> Fingerprints:
        """The same set less ``excluded`` (sliced around each, not looped over)."""
        kept = array("Q")
        start = 0
        for item in sorted(excluded):
            i = bisect_left(self.values, item)
            if i < len(self.values) and self.values[i] == item:
                kept.extend(self.values[start:i])
                start = i + 1
        kept.extend(self.values[start:])
        return Fingerprints(self.key_id, kept)

    @classmethod
    def from_set(cls, key: MaskingKey, values: set[int]) -> Fingerprints:
        return cls(key.key_id, array("Q", sorted(values)))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = array("Q", self.values)
        if sys.byteorder != "little":
            body.byteswap()
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(_HEADER.pack(MAGIC, bytes.fromhex(self.key_id), len(body)))
            fh.write(body.tobytes())
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> Fingerprints:
        data = path.read_bytes()
        magic, key_id, count = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise ValueError(f"{path} is not a fingerprint file")
        body = array("Q")
        body.frombytes(data[_HEADER.size : _HEADER.size + 8 * count])
        if sys.byteorder != "little":
            body.byteswap()
        return cls(key_id.hex(), body)


def fingerprint_path(home: Path, snapshot: str) -> Path:
    return home / "snapshots" / snapshot / "fingerprints.bin"


class FingerprintSet:
    """Several snapshots' fingerprints, looked up in each (no merge: no second copy)."""

    def __init__(self, parts: list[Fingerprints]) -> None:
        self.parts = parts

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def __contains__(self, item: int) -> bool:
        return any(item in part for part in self.parts)

    def without(self, excluded: set[int]) -> FingerprintSet:
        return FingerprintSet([part.without(excluded) for part in self.parts])


def load_all(home: Path, key: MaskingKey) -> tuple[FingerprintSet, list[str]]:
    """Every kept snapshot's fingerprints made under ``key``; and the snapshots skipped
    because another key (or an older stageline) made theirs."""
    parts: list[Fingerprints] = []
    skipped: list[str] = []
    for path in sorted((home / "snapshots").glob("*/fingerprints.bin")):
        with open(path, "rb") as fh:
            old = fh.read(len(OLD_MAGIC)) == OLD_MAGIC
        if old:
            skipped.append(path.parent.name)
            continue
        found = Fingerprints.read(path)
        if found.key_id != key.key_id:
            skipped.append(path.parent.name)
        else:
            parts.append(found)
    return FingerprintSet(parts), skipped
