"""Copy tables (and parts of big tables) in worker processes, on one consistent snapshot.

Masking is CPU work per value, so one process would use one core. The source
transaction exports its snapshot (``pg_export_snapshot``); every part is read (by psql,
see :func:`stageline.data.stream.copy_out`) in a transaction on that same snapshot, like
``pg_dump --jobs``. A table bigger than
``PART_PAGES`` heap pages is split into page ranges (TID range scans, PostgreSQL 14+).
Workers are forked (fast to start; they open their own connections and exit with
``os._exit``, so the parent's connections are never touched).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import psycopg

from stageline.data.catalog import session_settings
from stageline.data.masking import MaskingKey, Memo, Prints
from stageline.data.plan import TablePlan
from stageline.data.stream import Source, copy_table

PART_PAGES = 4096  # 32 MB of heap per part (each part costs a psql and a connection)
TID_RANGE_SINCE = 140000


@dataclass(frozen=True)
class Job:
    source_url: str
    psql: str  # the source server's own psql
    target_url: str
    snapshot_id: str
    plan: TablePlan
    key: bytes
    pages: tuple[int, int | None] | None


@dataclass(frozen=True)
class Done:
    table: str
    rows: int
    size: int
    fingerprints: bytes  # Prints.to_bytes(): not deduplicated yet


def parts(src: psycopg.Connection[Any], plan: TablePlan) -> list[tuple[int, int | None] | None]:
    """How to split one table: page ranges for a big table, else one whole part."""
    if src.info.server_version < TID_RANGE_SINCE:
        return [None]
    row = src.execute(
        "SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int",
        (f'"{plan.table.schema}"."{plan.table.name}"',),
    ).fetchone()
    pages = int(row[0]) if row else 0
    if pages <= PART_PAGES:
        return [None]
    starts = list(range(0, pages, PART_PAGES))
    return [*pairwise(starts), (starts[-1], None)]


_state: dict[str, Any] = {}


def _target(job: Job) -> tuple[psycopg.Connection[Any], Memo]:
    """This process's connection to the target (and the masks' memo), kept across jobs."""
    if _state.get("snapshot") != job.snapshot_id:
        dst = psycopg.connect(job.target_url, connect_timeout=10)
        session_settings(dst)
        _state.update(snapshot=job.snapshot_id, dst=dst, memo={})
    return _state["dst"], _state["memo"]


def run_job(job: Job) -> Done:
    """Copy one part (in a worker process, or in this one)."""
    dst, memo = _target(job)
    prints = Prints()
    source = Source(job.source_url, job.psql, job.snapshot_id)
    copied = copy_table(source, dst, job.plan, MaskingKey(job.key), prints, memo, job.pages)
    dst.commit()
    return Done(job.plan.table.key, copied.rows, copied.bytes, prints.to_bytes())


def run_all(jobs: list[Job], workers: int) -> list[Done]:
    """Run the jobs, biggest tables first, in ``workers`` forked processes."""
    if workers <= 1 or len(jobs) <= 1:
        try:
            return [run_job(job) for job in jobs]
        finally:
            _close()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return list(pool.map(run_job, jobs))


def _close() -> None:
    conn = _state.pop("dst", None)
    if conn is not None:
        conn.close()
    _state.clear()


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
