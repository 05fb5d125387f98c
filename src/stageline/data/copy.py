"""Make one masked copy of a database: schema, rows through the masks, then indexes.

Library level (URLs in, counts out), so it runs against any two servers; the
environment-level use cases are in :mod:`stageline.data.snapshot`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from stageline.data.catalog import read_tables, session_settings
from stageline.data.fingerprints import Fingerprints, collected
from stageline.data.masking import MaskingKey, Prints
from stageline.data.parallel import Job, default_workers, parts, run_all
from stageline.data.plan import Plan, check, make_plan
from stageline.data.rules import DataRules
from stageline.errors import BackingServiceError, UsageError
from stageline.services.postgres import PgBinaries, client_connection

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CopyResult:
    row_counts: dict[str, int]
    bytes: int
    duration: float
    fingerprints: Fingerprints
    passthrough: tuple[str, ...]


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise BackingServiceError(
            f"cannot connect to PostgreSQL: {exc}".strip(), hint="is the server started?"
        ) from exc
    return conn


def plan_for(source_url: str, rules: DataRules) -> Plan:
    """What every column of the source database would get under ``rules``."""
    with connect(source_url) as conn:
        return make_plan(read_tables(conn), rules)


def copy_database(
    source_url: str,
    target_url: str,
    rules: DataRules,
    key: MaskingKey,
    *,
    source_name: str,
    dump: PgBinaries,
    load: PgBinaries,
    progress: Progress | None = None,
    workers: int | None = None,
) -> CopyResult:
    """Copy ``source_url``'s database into the existing, empty ``target_url`` database,
    masked per ``rules``; refuses (copying nothing) when a column is not classified.

    Tables (and page ranges of big ones) are copied by ``workers`` processes (default:
    the cores, at most 4), all reading the source's one exported snapshot."""
    report = progress or (lambda _stage: None)
    started = time.perf_counter()
    with connect(source_url) as src:
        src.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        src.read_only = True
        session_settings(src)
        plan = make_plan(read_tables(src), rules)
        check(plan, source_name)
        row = src.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        psql = dump.program("psql")
        jobs = [
            Job(source_url, psql, target_url, str(row[0]), table, key.raw, pages)
            for table in plan.tables
            if not table.schema_only
            for pages in parts(src, table)
        ]
        with tempfile.TemporaryDirectory(prefix="stageline-schema-") as tmp:
            report("copying the schema")
            _schema(dump, load, source_url, target_url, "pre-data", Path(tmp))
            tables = len({job.plan.table.key for job in jobs})
            report(f"copying the rows of {tables} tables in {len(jobs)} parts")
            done = run_all(jobs, workers or default_workers())
            prints = Prints()
            counts = {t.table.key: 0 for t in plan.tables}
            for part in done:
                counts[part.table] += part.rows
                prints.add_bytes(part.fingerprints)
            with connect(target_url) as dst:
                _sequences(src, dst)
                dst.commit()
            src.rollback()
            report("building indexes and constraints")
            _schema(dump, load, source_url, target_url, "post-data", Path(tmp))
    fingerprints = collected(prints, key)
    return CopyResult(
        row_counts=counts,
        bytes=sum(part.size for part in done),
        duration=time.perf_counter() - started,  # the fingerprints' sort counted too
        fingerprints=fingerprints,
        passthrough=tuple(t.table.key for t in plan.tables if t.passthrough),
    )


def _sequences(src: psycopg.Connection[Any], dst: psycopg.Connection[Any]) -> None:
    rows = src.execute(
        "SELECT schemaname, sequencename, last_value FROM pg_sequences WHERE last_value IS NOT NULL"
    ).fetchall()
    for schema, name, value in rows:
        dst.execute(
            "SELECT setval(format('%%I.%%I', %s::text, %s::text)::regclass, %s)",
            (schema, name, value),
        )


def _schema(
    dump: PgBinaries, load: PgBinaries, source_url: str, target_url: str, section: str, tmp: Path
) -> None:
    """Copy one section of the schema (``pre-data``: tables; ``post-data``: indexes,
    constraints, triggers) with pg_dump and psql."""
    script = tmp / f"{section}.sql"
    source, source_env = client_connection(source_url)
    target, target_env = client_connection(target_url)
    steps = [
        (
            [
                dump.program("pg_dump"),
                "--schema-only",
                f"--section={section}",
                "--no-owner",
                "--no-privileges",
                "--file",
                str(script),
                "--dbname",
                source,
            ],
            source_env,
        ),
        (
            [
                load.program("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--file",
                str(script),
                "--dbname",
                target,
            ],
            target_env,
        ),
    ]
    for cmd, password in steps:
        env = {**os.environ, "PGCONNECT_TIMEOUT": "10", **password}
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-10:])
            raise BackingServiceError(
                f"{Path(cmd[0]).name} failed copying the schema ({section}):\n{tail}",
                hint="the snapshot database was not kept",
            )


def create_database(admin_url: str, name: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is not None:
            raise UsageError(f"database {name!r} exists already", hint="pick another name")
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )


def make_template(admin_url: str, name: str) -> None:
    """Keep ``name`` as a template: nobody connects, it can only be cloned.

    Then a checkpoint, when the role may run one: the freshly loaded pages are written out
    now, once, rather than by the first restore (a ``FILE_COPY`` clone starts with a
    checkpoint of everything still dirty)."""
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                sql.Identifier(name)
            )
        )
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` (a template too) if it exists, disconnecting anyone connected."""
    with connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            return
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE false").format(ident))
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident))
