"""Stream one table's rows from the source to the snapshot: COPY out, mask, COPY in.

Rows travel in PostgreSQL's COPY text format. A table whose columns are all ``keep``
passes through untouched; otherwise each row is split on tabs and only the masked
fields are decoded, transformed and encoded again, so raw values never reach the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from stageline.data.copytext import NULL, decode_field, encode_field
from stageline.data.masking import ColumnMasker, MaskingKey, Memo
from stageline.data.plan import TablePlan

BLOCK_BYTES = 1 << 20
__all__ = ["NULL", "Copied", "copy_table", "decode_field", "encode_field", "mask_block"]


def mask_block(block: bytes, masked: list[tuple[int, ColumnMasker]], hidden: list[str]) -> bytes:
    """Mask whole rows (``block`` ends with a newline), column by column; the source
    strings hidden go to ``hidden``."""
    lines = block.split(b"\n")
    lines.pop()
    rows = [line.split(b"\t") for line in lines]
    for position, masker in masked:
        column = masker.apply_fields([row[position] for row in rows], hidden)
        for row, field in zip(rows, column, strict=True):
            row[position] = field
    lines = [b"\t".join(row) for row in rows]
    lines.append(b"")
    return b"\n".join(lines)


@dataclass(frozen=True)
class Copied:
    rows: int
    bytes: int


def copy_table(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    plan: TablePlan,
    key: MaskingKey,
    on_hidden: Callable[[list[str]], None],
    memo: Memo | None = None,
    pages: tuple[int, int | None] | None = None,
) -> Copied:
    """Copy one table's rows (masked per ``plan``) from ``source`` to ``target``; only
    those on heap pages ``[start, stop)`` when ``pages`` is given (a TID range scan)."""
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
    rows = size = 0
    with (
        source.cursor() as rcur,
        target.cursor() as wcur,
        rcur.copy(out) as reader,
        wcur.copy(into, writer=QueuedLibpqWriter(wcur)) as writer,
    ):
        pending: list[bytes] = []
        pending_size = 0
        for data in reader:
            chunk = bytes(data)
            rows += 1  # PostgreSQL sends one row per COPY message
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= BLOCK_BYTES:
                size += pending_size
                writer.write(_flush(pending, masked, on_hidden))
                pending, pending_size = [], 0
        if pending:
            size += pending_size
            writer.write(_flush(pending, masked, on_hidden))
    return Copied(rows, size)


def _flush(
    pending: list[bytes],
    masked: list[tuple[int, ColumnMasker]],
    on_hidden: Callable[[list[str]], None],
) -> bytes:
    block = b"".join(pending)
    if not masked:
        return block
    hidden: list[str] = []
    result = mask_block(block, masked, hidden)
    if hidden:
        on_hidden(hidden)
    return result
