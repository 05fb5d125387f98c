"""What a run cost, from ``/proc``: the service's CPU and memory, and the host's CPU.

:class:`Sampler` is a context manager that samples, every ``interval`` seconds on a
thread of its own, the processes ``pids()`` names (a service's process group) and the
host's ``/proc/stat``; on exit it holds a :class:`Usage`. How long the service's
threads were runnable but waited for a CPU (``schedstat``) tells whether the host's CPU
was the limit for the service itself, whatever else kept the host busy. A process's CPU is its
``utime + stime``; a process seen for the first time during the window counts from zero
(it started within it). Memory is the peak of the processes' summed resident sets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from stageline.host.procfs import proc_stat

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Usage:
    """The service's CPU seconds and peak resident memory (MB) over a window, and the
    share of the host's CPU that was busy meanwhile (0..1, all cores together)."""

    cpu_seconds: float
    peak_rss_mb: float
    host_busy: float
    cores: int
    #: seconds the service's threads were runnable but waited for a CPU (schedstat)
    wait_seconds: float = 0.0


def host_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields)
    return total - idle, total


def waited_ns(pid: int) -> int:
    """Nanoseconds the threads of ``pid`` spent runnable, waiting for a CPU
    (``/proc/<pid>/task/*/schedstat``, second field); 0 when it is gone."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total


def _process(pid: int) -> tuple[int, int] | None:
    """(utime + stime ticks, resident pages) of ``pid``; None when it is gone."""
    fields = proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[11]) + int(fields[12]), int(fields[21])


class Sampler:
    """Samples ``pids()`` and the host while the block runs (see the module docstring)."""

    def __init__(self, pids: Callable[[], set[int]], interval: float = 0.2) -> None:
        self.pids = pids
        self.interval = interval
        self.usage = Usage(0.0, 0.0, 0.0, os.cpu_count() or 1)
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self._first_wait: dict[int, int] = {}
        self._last_wait: dict[int, int] = {}
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="load-sampler", daemon=True)
        self._host = (0, 0)

    def _sample(self, *, first: bool) -> None:
        resident = 0
        for pid in self.pids():
            seen = _process(pid)
            if seen is None:
                continue
            ticks, pages = seen
            waited = waited_ns(pid)
            self._first.setdefault(pid, ticks if first else 0)
            self._last[pid] = ticks
            self._first_wait.setdefault(pid, waited if first else 0)
            self._last_wait[pid] = waited
            resident += pages
        self._peak = max(self._peak, resident)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def __enter__(self) -> Sampler:
        self._sample(first=True)
        self._host = host_ticks()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample(first=False)
        busy, total = host_ticks()
        spent = max(1, total - self._host[1])
        ticks = sum(self._last[pid] - self._first.get(pid, 0) for pid in self._last)
        waited = sum(self._last_wait[pid] - self._first_wait.get(pid, 0) for pid in self._last_wait)
        self.usage = Usage(
            cpu_seconds=ticks / _TICK,
            peak_rss_mb=self._peak * _PAGE / 1e6,
            host_busy=(busy - self._host[0]) / spent,
            cores=os.cpu_count() or 1,
            wait_seconds=max(0, waited) / 1e9,
        )
