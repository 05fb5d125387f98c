"""Facts about processes from ``/proc`` (Linux): alive or not, and since when.

A pid alone does not identify a process (pids are reused); a pid with its start time
does. Zombies (exited, not yet reaped) count as gone.
"""

from __future__ import annotations

import os
from pathlib import Path


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on, or None if there is no such pid."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: with the pid, its identity."""
    fields = proc_stat(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, proc_start: int | None = None) -> bool:
    """True if ``pid`` runs (zombies count as gone) and, if given, started at ``proc_start``."""
    fields = proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return proc_start is None or int(fields[19]) == proc_start


def group_alive(pgid: int) -> bool:
    """True while any live (non-zombie) process is in process group ``pgid``."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                return True
    return False
