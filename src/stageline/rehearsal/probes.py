"""Probe sessions: what a user of each table felt while the migration ran.

For every table, one reader and one writer (each its own connection) run in a loop
every ``interval``: the reader ``SELECT 1 FROM t WHERE false`` (the lock a read takes,
``AccessShareLock``), the writer ``DELETE FROM t WHERE false`` (the lock every write
takes, ``RowExclusiveLock``). Neither reads nor changes a row, so they distort neither
the data checksums nor the scan statistics, yet each waits exactly as long as a real
read or write would wait for its lock. A probe slower than ``threshold`` was stalled;
``stall_windows`` (pure) unites the stalled intervals per table.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from stageline.rehearsal.facts import ProbeStall
from stageline.rehearsal.statement_log import quiet

#: (start ms, end ms, ok)
Sample = tuple[float, float, bool]


def _identifier(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split(".", 1)) if "." in table else sql.Identifier(table)


class _Probe(threading.Thread):
    def __init__(
        self, url: str, table: str, write: bool, t0: float, interval: float, stop: threading.Event
    ) -> None:
        super().__init__(name=f"probe-{table}-{'w' if write else 'r'}", daemon=True)
        self.url, self.table, self.write, self.t0 = url, table, write, t0
        self.interval, self.stop_event = interval, stop
        self.samples: list[Sample] = []
        self.note = ""
        template = "DELETE FROM {} WHERE false" if write else "SELECT 1 FROM {} WHERE false"
        self.query = sql.SQL(template).format(_identifier(table))
        self.conn: psycopg.Connection[Any] = psycopg.connect(
            url, autocommit=True, prepare_threshold=None, application_name="stageline-probe"
        )
        self.pid = self.conn.info.backend_pid
        quiet(self.conn)

    def _now(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                start = self._now()
                try:
                    self.conn.execute(self.query)
                    self.samples.append((start, self._now(), True))
                except psycopg.errors.UndefinedTable:
                    self.samples.append((start, self._now(), False))
                    self.note = f"{self.table} disappeared at {start:.0f} ms (dropped or renamed)"
                    return
                self.stop_event.wait(self.interval)
        except psycopg.Error as exc:
            self.note = f"probe stopped: {str(exc).strip()}"
        finally:
            self.conn.close()


class Probes:
    """A reader and a writer per table, started before the upgrade, stopped after it."""

    def __init__(self, url: str, tables: list[str], *, interval: float = 0.02) -> None:
        self.tables = tables
        self.interval = interval
        self._stop = threading.Event()
        self._probes: list[_Probe] = []
        self._url = url

    @property
    def pids(self) -> set[int]:
        """The probes' backends (their statements are not the migration's)."""
        return {probe.pid for probe in self._probes}

    def start(self, t0: float) -> None:
        try:
            for table in self.tables:
                for write in (False, True):
                    self._probes.append(
                        _Probe(self._url, table, write, t0, self.interval, self._stop)
                    )
        except psycopg.Error:
            self.stop(threshold=0)
            raise
        for probe in self._probes:
            probe.start()

    def stop(self, *, threshold: float) -> list[ProbeStall]:
        self._stop.set()
        for probe in self._probes:
            if probe.is_alive():
                probe.join()
            elif not probe.conn.closed:
                probe.conn.close()
        stalls = []
        for table in self.tables:
            reads = [p for p in self._probes if p.table == table and not p.write]
            writes = [p for p in self._probes if p.table == table and p.write]
            read = [s for p in reads for s in p.samples]
            write = [s for p in writes for s in p.samples]
            notes = "; ".join(sorted({p.note for p in reads + writes if p.note}))
            stalls.append(stall_for(table, read, write, threshold, notes))
        return stalls


def stall_windows(samples: list[Sample], threshold: float) -> list[tuple[float, float]]:
    """The union of the intervals of probes that took longer than ``threshold`` ms."""
    slow = sorted((start, end) for start, end, _ in samples if end - start > threshold)
    merged: list[tuple[float, float]] = []
    for start, end in slow:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(windows: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in windows)


def stall_for(
    table: str, read: list[Sample], write: list[Sample], threshold: float, note: str = ""
) -> ProbeStall:
    """One table's stall from its reader's and writer's samples (pure)."""
    both = stall_windows(read + write, threshold)
    return ProbeStall(
        table=table,
        read_ms=round(_length(stall_windows(read, threshold)), 1),
        write_ms=round(_length(stall_windows(write, threshold)), 1),
        total_ms=round(_length(both), 1),
        windows=[(round(a, 1), round(b, 1)) for a, b in both],
        operations=len(read) + len(write),
        note=note,
        slow_reads=_slow(read, threshold),
        slow_writes=_slow(write, threshold),
    )


def _slow(samples: list[Sample], threshold: float) -> list[tuple[float, float]]:
    return sorted((round(a, 1), round(b, 1)) for a, b, _ in samples if b - a > threshold)


def total_window(stalls: list[ProbeStall]) -> float:
    """How long anything at all was stalled: the union of every table's windows (pure)."""
    merged = stall_windows([(a, b, True) for s in stalls for a, b in s.windows], -1.0)
    return round(_length(merged), 1)


class LongReader(threading.Thread):
    """A reader already running when the migration starts: one transaction that reads
    every table (``AccessShareLock``) and keeps them for ``ms`` milliseconds, like a
    long report query. A migration that needs a conflicting lock queues behind it, and
    every later read and write of that table queues behind the migration."""

    def __init__(self, url: str, tables: list[str], ms: float) -> None:
        super().__init__(name="rehearsal-long-reader", daemon=True)
        self.ms = ms
        self.tables = tables
        self.conn: psycopg.Connection[Any] = psycopg.connect(
            url, prepare_threshold=None, application_name="stageline-long-reader"
        )
        self.pid = self.conn.info.backend_pid
        quiet(self.conn)
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            for table in self.tables:
                self.conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(_identifier(table)))
            self.ready.set()
            time.sleep(self.ms / 1000.0)
            self.conn.rollback()
        except psycopg.Error:
            self.ready.set()
        finally:
            self.conn.close()
