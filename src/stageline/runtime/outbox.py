"""The outbox: where side effects that did not run are recorded, one JSON object each.

``STAGELINE_OUTBOX`` chooses the destination: a file path (or ``file:PATH``) gets JSON
lines appended, one ``write`` per record with ``O_APPEND`` so concurrent workers never
interleave; a ``postgresql://`` URL gets rows in ``stageline_outbox`` (psycopg is
imported only then); unset means ``./stageline-outbox.jsonl``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from stageline.runtime.settings import MASK, Secret

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (~5 ms)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

DEFAULT_OUTBOX = "stageline-outbox.jsonl"
TABLE = "stageline_outbox"
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id text PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL, record jsonb NOT NULL)"
)
_tables_ready: set[str] = set()  # PostgreSQL URLs whose table this process has created


def reset() -> None:
    """Forget what this process cached (which PostgreSQL outboxes have their table)."""
    _tables_ready.clear()


def destination(environ: Mapping[str, str] | None = None) -> str:
    """The outbox destination named by ``STAGELINE_OUTBOX``, or the default file."""
    env = os.environ if environ is None else environ
    return env.get("STAGELINE_OUTBOX", "").strip() or DEFAULT_OUTBOX


def is_postgres(target: str) -> bool:
    """True if the destination ``target`` is a PostgreSQL URL (else a file)."""
    return target.startswith(("postgresql://", "postgres://"))


def _file_path(target: str) -> str:
    return (
        target.removeprefix("file://")
        if target.startswith("file://")
        else (target.removeprefix("file:"))
    )


# -- masking ------------------------------------------------------------------------------


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the variables named in ``STAGELINE_SECRET_NAMES``, longest first."""
    env = os.environ if environ is None else environ
    names = [name.strip() for name in env.get("STAGELINE_SECRET_NAMES", "").split(",")]
    values = {env[name] for name in names if name and env.get(name)}
    return sorted(values, key=len, reverse=True)


def _revealed(value: object, found: set[str]) -> None:
    """Collect the values of every Secret inside ``value``."""
    if isinstance(value, Secret):
        if value.reveal():
            found.add(value.reveal())
    elif isinstance(value, Mapping):
        for item in value.values():
            _revealed(item, found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _revealed(item, found)


def masked(value: object, secrets: Iterable[str]) -> Any:
    """A JSON-ready copy of ``value``: Secrets and secret values become ``****``.

    Dicts and lists are walked; anything JSON cannot hold becomes its ``repr()``.
    Secret values are also removed from inside strings (a URL, a header).
    """
    found: set[str] = set(secrets)
    _revealed(value, found)
    return _mask(value, sorted(found, key=len, reverse=True))


def _mask(value: object, secrets: list[str]) -> Any:
    if isinstance(value, Secret):
        return MASK
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, Mapping):
        return {_mask(str(key), secrets): _mask(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(item, secrets) for item in value]
    return _mask(repr(value), secrets)


# -- writing and reading ------------------------------------------------------------------


def write(record: Mapping[str, Any], target: str) -> None:
    """Append one (already masked) record to the outbox at ``target``."""
    import json

    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    if is_postgres(target):
        _write_postgres(record, text, target)
        return
    path = _file_path(target)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    data = (text + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, data)  # one write: appends from several workers never mix
        while written < len(data):  # pragma: no cover - only on a full disk or a signal
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def _write_postgres(record: Mapping[str, Any], text: str, url: str) -> None:
    from contextlib import suppress

    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if url not in _tables_ready:
            with suppress(psycopg.errors.UniqueViolation):  # another worker just created it
                conn.execute(_CREATE)
            _tables_ready.add(url)
        conn.execute(
            f"INSERT INTO {TABLE} (id, kind, at, record) VALUES (%s, %s, %s, %s::jsonb)",
            (record["id"], record["kind"], record["at"], text),
        )


def read_outbox(target: str | None = None) -> list[dict[str, Any]]:
    """Every record in the outbox at ``target`` (default: ``STAGELINE_OUTBOX``), oldest first."""
    import json

    target = destination() if target is None else target
    if is_postgres(target):
        return _read_postgres(target)
    try:
        with open(_file_path(target), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


def _read_postgres(url: str) -> list[dict[str, Any]]:
    import psycopg

    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = conn.execute(f"SELECT record FROM {TABLE} ORDER BY at, id").fetchall()
    return [dict(row[0]) for row in rows]
