"""What a database holds: its schema, normalized, and a checksum of every column's data.

``schema_fingerprint`` reads the catalog (tables, columns in order with types, defaults
and nullability, constraints, indexes, sequences, views, functions, extensions) into
``{kind: {object: definition}}``, by name only (never an oid or a file node), so two
identical schemas always compare equal. ``data_fingerprint`` gives each table's row count
and, per column, an order-independent checksum of its values. ``schema_diff`` and
``data_diff`` (pure) say what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

Schema = dict[str, dict[str, str]]

_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"  # noqa: E501

_QUERIES: dict[str, str] = {
    "table": f"""
        SELECT n.nspname || '.' || c.relname,
               c.relkind::text || CASE WHEN c.relpersistence = 'u' THEN ' unlogged' ELSE '' END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'm', 'f') AND {_USER_SCHEMAS}""",
    "column": f"""
        SELECT n.nspname || '.' || c.relname || '.' || a.attname,
               '#' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)
               || ' ' || format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE ' null' END
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
               || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
               || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm', 'f', 'v')
          AND {_USER_SCHEMAS}""",
    "constraint": f"""
        SELECT n.nspname || '.' || c.relname || '.' || k.conname,
               pg_get_constraintdef(k.oid)
               || CASE WHEN k.convalidated THEN '' ELSE ' (not validated)' END
        FROM pg_constraint k
        JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_SCHEMAS}""",
    "index": f"""
        SELECT n.nspname || '.' || i.relname,
               pg_get_indexdef(i.oid) || CASE WHEN x.indisvalid THEN '' ELSE ' (invalid)' END
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE {_USER_SCHEMAS}""",
    "sequence": f"""
        SELECT n.nspname || '.' || c.relname,
               format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
               || ' increment ' || s.seqincrement || ' min ' || s.seqmin
               || ' max ' || s.seqmax || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
        FROM pg_sequence s
        JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {_USER_SCHEMAS}""",
    "view": f"""
        SELECT n.nspname || '.' || c.relname, c.relkind::text || ' ' || pg_get_viewdef(c.oid)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_SCHEMAS}""",
    "function": f"""
        SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid)
               || ')',
               pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        LEFT JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
        WHERE p.prokind IN ('f', 'p') AND d.objid IS NULL AND {_USER_SCHEMAS}""",
    "trigger": f"""
        SELECT n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {_USER_SCHEMAS}""",
    "extension": "SELECT extname, extversion FROM pg_extension",
    "schema": f"""
        SELECT n.nspname, '' FROM pg_namespace n
        WHERE {_USER_SCHEMAS} AND n.nspname <> 'public'""",
}


def schema_fingerprint(conn: psycopg.Connection[Any]) -> Schema:
    """The schema of the connected database, as ``{kind: {name: definition}}``."""
    result: Schema = {}
    for kind, query in _QUERIES.items():
        rows = conn.execute(query).fetchall()
        result[kind] = {str(name): " ".join(str(defn).split()) for name, defn in rows}
    return result


@dataclass(frozen=True)
class SchemaChange:
    kind: str
    name: str
    change: str  # "added" | "removed" | "changed"
    before: str | None
    after: str | None

    def describe(self) -> str:
        if self.change == "added":
            return f"{self.kind} {self.name} is there but was not ({self.after})"
        if self.change == "removed":
            return f"{self.kind} {self.name} is missing (was {self.before})"
        return f"{self.kind} {self.name} changed: {self.before} -> {self.after}"


def schema_diff(before: Schema, after: Schema) -> list[SchemaChange]:
    """Every object that differs between ``before`` and ``after``, in a stable order."""
    changes: list[SchemaChange] = []
    for kind in sorted(set(before) | set(after)):
        old, new = before.get(kind, {}), after.get(kind, {})
        for name in sorted(set(old) | set(new)):
            if name not in new:
                changes.append(SchemaChange(kind, name, "removed", old[name], None))
            elif name not in old:
                changes.append(SchemaChange(kind, name, "added", None, new[name]))
            elif old[name] != new[name]:
                changes.append(SchemaChange(kind, name, "changed", old[name], new[name]))
    return changes


@dataclass(frozen=True)
class TableData:
    rows: int
    #: column -> checksum of its values (order-independent)
    columns: dict[str, str]
    #: bytes of the table with its indexes and TOAST (``pg_total_relation_size``)
    size: int
    #: the checksums cover a repeatable sample of the table's pages, not every row
    sampled: bool = False


#: every ordinary user table: (oid, schema, name, bytes with indexes and TOAST)
TABLES = f"""SELECT c.oid, n.nspname, c.relname, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND {_USER_SCHEMAS} ORDER BY 2, 3"""


def key(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def table_data(
    conn: psycopg.Connection[Any], oid: int, schema: str, name: str, size: int,
    sample_percent: float | None = None, *, count_only: bool = False, legacy: bool = False,
) -> TableData:  # fmt: skip
    """Row count and per-column checksums of one table; with ``sample_percent``, the
    checksums cover ``TABLESAMPLE SYSTEM (p) REPEATABLE (0)`` (the same pages of an
    unchanged table every time) and the count stays exact; ``count_only``: no checksum.

    A column's checksum is the sum of its values' 64-bit hashes (order-independent, one
    pass, no sort); ``legacy``: the md5 of its sorted values' md5s (the earlier way, kept
    for the benchmark's "before")."""
    columns = [] if count_only else [
        str(row[0])
        for row in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum",
            (oid,),
        )
    ]  # fmt: skip
    table = sql.Identifier(schema, name)
    parts: list[sql.Composable] = []
    for column in columns:
        value = sql.SQL("coalesce('v' || {}::text, 'n')").format(sql.Identifier(column))
        if legacy:
            hashed = sql.SQL("md5({})").format(value)
            parts.append(sql.SQL("md5(string_agg({v}, '' ORDER BY {v}))").format(v=hashed))
        else:
            parts.append(sql.SQL("sum(hashtextextended({}, 0))::text").format(value))
    source: sql.Composable = table
    if sample_percent is not None:
        source = sql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE (0)").format(
            table, sql.Literal(sample_percent)
        )
    count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    row = (
        conn.execute(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), source))
        .fetchone() if parts else ()
    )  # fmt: skip
    assert count is not None and row is not None
    sums = {column: str(row[i] or "empty") for i, column in enumerate(columns)}
    return TableData(int(count[0]), sums, int(size), sample_percent is not None)


def data_fingerprint(conn: psycopg.Connection[Any]) -> dict[str, TableData]:
    """Row count, size and per-column checksums of every ordinary user table."""
    return {
        key(schema, name): table_data(conn, int(oid), schema, name, size)
        for oid, schema, name, size in conn.execute(TABLES).fetchall()
    }


@dataclass(frozen=True)
class DataLoss:
    table: str
    column: str | None  # None: rows were lost or gained
    detail: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


def data_diff(before: dict[str, TableData], after: dict[str, TableData]) -> list[DataLoss]:
    """Data that did not survive the round trip, by table and column (tables and columns
    that no longer exist are schema changes, not listed here). A table read one way before
    and another after (sampled, whole, counted only) compares by its row count."""
    losses: list[DataLoss] = []
    for table in sorted(set(before) & set(after)):
        old, new = before[table], after[table]
        if old.rows != new.rows:
            losses.append(DataLoss(table, None, f"{old.rows} rows before, {new.rows} after"))
        if old.sampled != new.sampled:  # one side sampled, the other whole: counts only
            continue
        for column in old.columns:
            if column in new.columns and old.columns[column] != new.columns[column]:
                detail = f"values of {table}.{column} differ after the round trip"
                if old.sampled:
                    detail += " (in a repeatable sample of its pages)"
                losses.append(DataLoss(table, column, detail))
    return losses
