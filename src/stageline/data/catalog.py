"""What a database holds, read from PostgreSQL's catalog: tables, columns, keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext", "name"})
JSON_TYPES = frozenset({"json", "jsonb"})
DATE_TYPES = frozenset({"date", "timestamp", "timestamptz"})
INET_TYPES = frozenset({"inet"})

_COLUMNS = """
SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       coalesce(bt.typname, t.typname), a.attnotnull,
       CASE WHEN coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar') AND a.atttypmod > 4
            THEN a.atttypmod - 4 END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE c.relkind = 'r' AND a.attgenerated = ''
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
"""

# columns in a unique index or primary key, or on either side of a foreign key
_KEYED = """
SELECT i.indrelid, k.attnum FROM pg_index i, unnest(i.indkey) AS k(attnum) WHERE i.indisunique
UNION
SELECT con.conrelid, k.attnum FROM pg_constraint con, unnest(con.conkey) AS k(attnum)
WHERE con.contype = 'f'
UNION
SELECT con.confrelid, k.attnum FROM pg_constraint con, unnest(con.confkey) AS k(attnum)
WHERE con.contype = 'f'
"""
_KEYED_NAMES = f"""
SELECT n.nspname, c.relname, a.attname
FROM ({_KEYED}) AS keyed(relid, attnum)
JOIN pg_class c ON c.oid = keyed.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = keyed.relid AND a.attnum = keyed.attnum
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as PostgreSQL shows it, e.g. "character varying(320)"
    base: str  # the base type's name, e.g. "varchar" (a domain's underlying type)
    not_null: bool
    max_length: int | None
    keyed: bool  # unique, primary key, or part of a foreign key

    @property
    def is_text(self) -> bool:
        return self.base in TEXT_TYPES

    @property
    def is_json(self) -> bool:
        return self.base in JSON_TYPES


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]

    @property
    def key(self) -> str:
        """How the rules name it: ``name`` in schema public, else ``schema.name``."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def read_tables(conn: psycopg.Connection[Any]) -> list[Table]:
    """Every user table (not a system or extension table) with its copyable columns."""
    keyed = {(s, t, c) for s, t, c in conn.execute(_KEYED_NAMES).fetchall()}
    grouped: dict[tuple[str, str], list[Column]] = {}
    for schema, table, col, typ, base, not_null, max_len in conn.execute(_COLUMNS).fetchall():
        grouped.setdefault((schema, table), []).append(
            Column(col, typ, base, not_null, max_len, (schema, table, col) in keyed)
        )
    return [Table(s, t, tuple(cols)) for (s, t), cols in grouped.items()]


def session_settings(conn: psycopg.Connection[Any]) -> None:
    """Fixed text formats, so transformers see the same text on every server."""
    for setting in (
        "SET client_encoding TO 'UTF8'",
        "SET DateStyle TO 'ISO, YMD'",
        "SET TimeZone TO 'UTC'",
        "SET IntervalStyle TO 'postgres'",
        "SET extra_float_digits TO 3",
    ):
        conn.execute(setting)


def sample_values(conn: psycopg.Connection[Any], table: Table, limit: int) -> dict[str, list[str]]:
    """Up to ``limit`` rows' non-NULL values of each text and JSON column of ``table``,
    as text: read to suggest masks, kept in memory only, never written or shown."""
    chosen = [c for c in table.columns if c.is_text or c.is_json]
    if not chosen:
        return {}
    names = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c.name)) for c in chosen)
    query = sql.SQL("SELECT {} FROM {} LIMIT {}").format(names, table.ident, sql.Literal(limit))
    rows = conn.execute(query).fetchall()
    return {c.name: [row[i] for row in rows if row[i] is not None] for i, c in enumerate(chosen)}
