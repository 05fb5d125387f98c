"""The leak scan: look for production values (by keyed fingerprint) in a database, and for
production's secrets or database in an environment's configuration.

Reports where (table, column, count) and never what: no value found is ever returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from psycopg import sql

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, facts_of, interpolate
from stageline.data.catalog import INET_TYPES, Column, read_tables, session_settings
from stageline.data.copy import connect
from stageline.data.fingerprints import Fingerprints, FingerprintSet
from stageline.data.masking import KeyedHash, MaskingKey, c_masks, candidates, fingerprint
from stageline.data.stream import NULL, decode_field
from stageline.errors import StagelineError

if TYPE_CHECKING:
    from stageline._speedups import Masker

MIN_SECRET_CHARS = 6
BLOCK_BYTES = 1 << 20  # rows are scanned a block of about this size at a time


@dataclass(frozen=True)
class Finding:
    table: str
    column: str
    count: int


@dataclass(frozen=True)
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    values: int = 0
    columns: int = 0
    finished: bool = True


def scan_database(
    url: str,
    key: MaskingKey,
    fingerprints: Fingerprints | FingerprintSet,
    *,
    deadline: float | None = None,
    only: set[tuple[str, str]] | None = None,
) -> ScanReport:
    """Every text, JSON (each string leaf) and inet value of the database at ``url``,
    looked up among ``fingerprints``; e-mail addresses inside text count too. ``only``:
    just these ``(table, column)``."""
    fp_key = KeyedHash(key.mask)
    fast = c_masks(key)
    findings: list[Finding] = []
    values = columns = 0
    with connect(url) as conn:
        session_settings(conn)
        for table in read_tables(conn):
            chosen = [
                c
                for c in table.columns
                if (c.is_text or c.is_json or c.base in INET_TYPES)
                and (only is None or (table.key, c.name) in only)
            ]
            if not chosen:
                continue
            columns += len(chosen)
            hits = [0] * len(chosen)
            names = sql.SQL(", ").join(sql.Identifier(c.name) for c in chosen)
            query = sql.SQL("COPY {} ({}) TO STDOUT").format(table.ident, names)
            with conn.cursor() as cur, cur.copy(query) as copy:
                for block in _blocks(copy):
                    seen, found = _scan_block(block, chosen, fp_key, fingerprints, fast)
                    values += seen
                    hits = [a + b for a, b in zip(hits, found, strict=True)]
                    if deadline is not None and time.monotonic() > deadline:
                        return ScanReport(findings, values, columns, finished=False)
            findings += [
                Finding(table.key, c.name, n) for c, n in zip(chosen, hits, strict=True) if n
            ]
    return ScanReport(findings, values, columns)


def _blocks(copy: Iterable[Any]) -> Iterator[bytes]:
    """COPY rows gathered into blocks of about ``BLOCK_BYTES``."""
    pending: list[bytes] = []
    size = 0
    for data in copy:
        pending.append(bytes(data))
        size += len(data)
        if size >= BLOCK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _scan_block(
    block: bytes,
    chosen: list[Column],
    fp_key: KeyedHash,
    fingerprints: Fingerprints | FingerprintSet,
    fast: Masker | None,
) -> tuple[int, list[int]]:
    """How many values ``block`` (whole COPY rows of the ``chosen`` columns) holds, and
    per column how many of them hold a production value. The C scan takes the plain
    values and hands the others to the Python below, which is the reference."""

    def one(column: Column) -> Callable[[bytes], bool]:
        def leaked(raw: bytes) -> bool:
            text = decode_field(raw)
            return _leaked(fp_key, fingerprints, _leaves(text) if column.is_json else (text,))

        return leaked

    if fast is not None:
        parts = fingerprints.parts if isinstance(fingerprints, FingerprintSet) else [fingerprints]
        return fast.scan(block, [(c.is_json, one(c)) for c in chosen], [p.values for p in parts])
    checks = [one(c) for c in chosen]
    values, hits = 0, [0] * len(chosen)
    for row in block.split(b"\n")[:-1]:
        fields = row.split(b"\t")
        if len(fields) != len(chosen):  # as the C refuses it
            raise ValueError(f"a COPY block whose rows do not all have {len(chosen)} fields")
        for i, raw in enumerate(fields):
            if raw != NULL:
                values += 1
                hits[i] += checks[i](raw)
    return values, hits


def _leaked(
    fp_key: KeyedHash, fingerprints: Fingerprints | FingerprintSet, strings: Iterable[str]
) -> bool:
    for string in strings:
        if any(fingerprint(fp_key, c) in fingerprints for c in candidates(string)):
            return True
    return False


def _leaves(text: str) -> Iterator[str]:
    try:
        doc = json.loads(text)
    except ValueError:
        yield text
        return
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def value_fingerprints(key: MaskingKey, strings: Iterable[str]) -> set[int]:
    """The fingerprints ``strings`` would have if production held them (as the scan
    looks them up: normalized, long enough, not one of our fakes)."""
    keyed = KeyedHash(key.mask)
    return {fingerprint(keyed, c) for string in strings for c in candidates(string)}


def production_values(
    prod: Environment, facts: PostgresFacts | None, secrets: Mapping[str, str]
) -> dict[str, str]:
    """What must never appear in another environment's configuration: production's
    DATABASE_URL (``facts``) and its secret values, each under a label that names but
    never shows it (pure)."""
    found: dict[str, str] = {}
    if facts is not None and facts.port:
        found[f"{prod.name}'s DATABASE_URL"] = facts.url
    for name, value in secrets.items():
        if len(value) >= MIN_SECRET_CHARS:
            found[f"{prod.name}'s secret {name}"] = value
    for name, value in prod.vars.items():
        if name in prod.secrets:
            continue
        try:
            resolved = interpolate(value, facts_of(prod, facts), where=name)
        except StagelineError:
            continue
        if _looks_like_database(resolved) and facts is not None:
            found[f"{prod.name}'s variable {name}"] = resolved
    return found


def _looks_like_database(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def _endpoint(url: str) -> tuple[str, int, str] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "", parts.port or 5432, parts.path.lstrip("/"))
    except ValueError:
        return None


def config_leaks(variables: Mapping[str, str], production: Mapping[str, str]) -> list[str]:
    """Which of an environment's variables hold a production value (pure; names only)."""
    leaks: list[str] = []
    for name, value in sorted(variables.items()):
        for label, secret in production.items():
            same_db = (
                _looks_like_database(secret)
                and _looks_like_database(value)
                and _endpoint(value) == _endpoint(secret)
            )
            if secret in value or same_db:
                leaks.append(f"variable {name} holds {label}")
    return leaks
