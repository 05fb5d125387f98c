"""Stream one table's rows from the source to the snapshot: COPY out, mask, COPY in.

Rows travel in PostgreSQL's COPY text format. A table whose columns are all ``keep``
passes through untouched; otherwise a block of rows is split into its fields at once
(in COPY text a tab or newline inside a value is always escaped, so every raw tab ends a
field and every raw newline a row), each masked column is taken as one slice of that list
and transformed, and the block is joined again: raw values never reach the target.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from stageline.data.copytext import NULL, decode_field, encode_field
from stageline.data.masking import ColumnMasker, MaskingKey, Memo, Prints
from stageline.data.plan import TablePlan
from stageline.errors import BackingServiceError
from stageline.services.postgres import client_connection

BLOCK_BYTES = 1 << 20  # rows are masked a block of about this size at a time
CHUNK_BYTES = 1 << 18  # read from psql's pipe at most this much at a time
__all__ = ["NULL", "Copied", "copy_table", "decode_field", "encode_field", "mask_block"]


def mask_block(
    block: bytes, masked: list[tuple[int, ColumnMasker]], width: int, prints: Prints
) -> bytes:
    """Mask whole rows of ``width`` fields (``block`` ends with a newline), column by
    column; the fingerprints of the source values hidden go to ``prints``.

    With the C masks, the block is masked in one call that makes no Python object per
    field (each value they cannot take comes back to the Python masks)."""
    fast = masked[0][1].accelerator if masked else None
    if fast is not None:
        key = masked[0][1].key
        specs = [(position, masker.block_spec(prints)) for position, masker in masked]
        if all(
            spec is not None and m.key == key
            for (_, spec), (_, m) in zip(specs, masked, strict=True)
        ):
            out = fast.block(block, width, [(position, *spec) for position, spec in specs if spec])
            prints.add_packed(fast.drain())
            return out
    if not block:
        return block
    # every row whole and of the width: a row one field short next to one a field too
    # long would otherwise shift values into the wrong columns (a raw one into a kept one)
    rows = block.split(b"\n")
    if rows.pop() or any(row.count(b"\t") != width - 1 for row in rows):
        raise ValueError(f"a COPY block whose rows do not all have {width} fields")
    fields = block.replace(b"\n", b"\t").split(b"\t")
    fields.pop()  # after the last newline
    for position, masker in masked:
        fields[position::width] = masker.apply_fields(fields[position::width], prints)
    last = width - 1
    fields[last::width] = [field + b"\n" for field in fields[last::width]]
    # joined with tabs, a row's end reads "\n\t": the tab before the next row goes
    return b"\t".join(fields).replace(b"\n\t", b"\n")


@dataclass(frozen=True)
class Copied:
    rows: int
    bytes: int


@dataclass(frozen=True)
class Source:
    """Where one part's rows come from: a database (a libpq URL), read with ``psql`` in
    a transaction on the exported snapshot ``snapshot`` (when given)."""

    url: str
    psql: str
    snapshot: str | None = None


# the fixed text formats of catalog.session_settings, for the psql reader
_SESSION = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3"


@contextmanager
def copy_out(source: Source, query: str) -> Iterator[Iterator[bytes]]:
    """The output of ``query`` (a ``COPY ... TO STDOUT``) in chunks of any size.

    ``psql`` reads it: libpq hands over one row per call, and a loop over millions of rows
    costs a Python process more than masking them; psql does it in C and we read big
    chunks from its pipe. The password travels in psql's environment, not its arguments.
    """
    conninfo, env = client_connection(source.url)
    commands = ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"]
    if source.snapshot is not None:
        quoted = source.snapshot.replace("'", "''")
        commands.append(f"SET TRANSACTION SNAPSHOT '{quoted}'")
    commands.append(query)
    argv = [source.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    for command in commands:
        argv += ["-c", command]
    env = {
        **os.environ,
        **env,
        "PGCLIENTENCODING": "UTF8",
        "PGOPTIONS": _SESSION,
        "PGCONNECT_TIMEOUT": "10",
    }
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, env=env)
        out = cast(io.BufferedReader, proc.stdout)
        try:
            yield iter(lambda: out.read1(CHUNK_BYTES), b"")
        except BaseException:
            proc.kill()
            raise
        finally:
            out.close()
            code = proc.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise BackingServiceError(
                f"reading rows from the source failed: {' '.join(tail)}",
                hint="the snapshot database was not kept; is the source server up?",
            )


def copy_table(
    source: Source,
    target: psycopg.Connection[Any],
    plan: TablePlan,
    key: MaskingKey,
    prints: Prints,
    memo: Memo | None = None,
    pages: tuple[int, int | None] | None = None,
) -> Copied:
    """Copy one table's rows (masked per ``plan``) from ``source`` to ``target``; only
    those on heap pages ``[start, stop)`` when ``pages`` is given (a TID range scan).
    The fingerprints of the values hidden go to ``prints``."""
    table = plan.table
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns)
    if pages is None:
        out = sql.SQL("COPY {} ({}) TO STDOUT").format(table.ident, names)
    else:
        start, stop = pages
        where = sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({start},0)"))
        if stop is not None:
            where += sql.SQL(" AND ctid < {}::tid").format(sql.Literal(f"({stop},0)"))
        out = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT").format(
            names, table.ident, where
        )
    into = sql.SQL("COPY {} ({}) FROM STDIN").format(table.ident, names)
    masked = [
        (i, ColumnMasker(c.rule, key, c.column.max_length, memo))
        for i, c in enumerate(plan.columns)
        if c.rule is not None and c.rule.mask != "keep"
    ]
    width = len(table.columns)
    rows = size = 0
    with (
        copy_out(source, out.as_string(target)) as chunks,
        target.cursor() as wcur,
        wcur.copy(into, writer=QueuedLibpqWriter(wcur)) as writer,
    ):
        pending: list[bytes] = []
        pending_size = 0
        for chunk in chunks:
            size += len(chunk)
            if not masked:  # pass-through: any boundary will do
                rows += chunk.count(b"\n")
                writer.write(chunk)
                continue
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size < BLOCK_BYTES:
                continue
            data = b"".join(pending)
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            pending, pending_size = [rest], len(rest)
            rows += _mask_into(writer, data[:cut], masked, width, prints)
        data = b"".join(pending)
        if data and not data.endswith(b"\n"):
            raise BackingServiceError("the source's COPY output ended inside a row")
        if data:
            rows += _mask_into(writer, data, masked, width, prints)
    return Copied(rows, size)


def _mask_into(
    writer: Any, block: bytes, masked: list[tuple[int, ColumnMasker]], width: int, prints: Prints
) -> int:
    writer.write(mask_block(block, masked, width, prints))
    return block.count(b"\n")
