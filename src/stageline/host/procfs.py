"""Facts about processes from ``/proc`` (Linux): alive or not, and since when.

A pid alone does not identify a process (pids are reused); a pid with its start time
does. Zombies (exited, not yet reaped) count as gone.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Iterator
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


# -- sockets ---------------------------------------------------------------------------------

#: TCP states of /proc/net/tcp* that a process's socket can be in (TIME_WAIT has no owner)
_TCP_STATES = {
    "01": "established",
    "02": "syn_sent",
    "03": "syn_recv",
    "04": "fin_wait1",
    "05": "fin_wait2",
    "07": "close",
    "08": "close_wait",
    "09": "last_ack",
    "0A": "listen",
    "0B": "closing",
}


def _address(hex_address: str) -> tuple[str, int]:
    """``0100007F:1F90`` (or its IPv6 form) from /proc/net/tcp* as ("127.0.0.1", 8080)."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # the kernel prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address), int(port, 16)


def _socket_table(pid: int) -> list[tuple[int, str, tuple[str, int], tuple[str, int]]]:
    """(inode, state, local, remote) of every TCP socket in ``pid``'s network namespace."""
    rows = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            state = _TCP_STATES.get(fields[3])
            if state is not None:
                rows.append((int(fields[9]), state, _address(fields[1]), _address(fields[2])))
    return rows


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        entries = os.scandir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    with entries:
        for entry in entries:
            try:
                target = os.readlink(entry.path)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = {pid}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def listening_pids(port: int) -> set[int]:
    """The processes (and their descendants) that listen on TCP ``port`` on this host."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        inodes = socket_inodes(pid)
        if not inodes:
            continue
        for inode, state, local, _remote in _socket_table(pid):
            if state == "listen" and local[1] == port and inode in inodes:
                return descendants(pid)
    return set()


def _held(pids: set[int]) -> Iterator[tuple[int, tuple[str, int], tuple[str, int]]]:
    """(pid, local, remote) of every TCP connection ``pids`` hold right now, in any state
    but listening."""
    for pid in pids:
        inodes = socket_inodes(pid)
        if not inodes:
            continue
        for inode, state, local, remote in _socket_table(pid):
            if inode in inodes and state != "listen":
                yield pid, local, remote


def connections(pids: set[int]) -> list[tuple[int, tuple[str, int]]]:
    """(pid, remote address) of every TCP connection ``pids`` hold right now, in any state
    but listening (a connection the peer already closed still proves contact)."""
    return [(pid, remote) for pid, _local, remote in _held(pids)]


def local_ports(pids: set[int]) -> dict[int, int]:
    """Local TCP port -> pid of every connection ``pids`` hold right now (how a server
    that sees a client's address and port tells which process it is)."""
    return {local[1]: pid for pid, local, _remote in _held(pids)}


def group_members(pgids: set[int]) -> set[int]:
    """Every live process in one of the process groups ``pgids``."""
    found: set[int] = set()
    if not pgids:
        return found
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields and int(fields[2]) in pgids and fields[0] not in ("Z", "X"):
                found.add(int(entry.name))
    return found


def rss_bytes(pids: Iterable[int]) -> int:
    """The resident memory of ``pids`` together (from /proc/<pid>/statm; gone ones: 0)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total
