"""The review environments' shared router process: started, given routes, stopped.

One process per ``.stageline`` folder (``python -m stageline.agent.router``, its own
session, so it outlives the command that started it), identified by pid and start time
in ``reviews/router.pid``. Its route table is ``reviews/routes.json`` (host -> port),
written whole and replaced atomically; the router re-reads it when it changes. It
records the last request per host in ``reviews/seen.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from stageline.errors import DeployFailed
from stageline.host.procfs import is_alive, proc_start_time

START_WAIT = 10.0


def folder(home: Path) -> Path:
    return home / "reviews"


def routes_path(home: Path) -> Path:
    return folder(home) / "routes.json"


def seen_path(home: Path) -> Path:
    return folder(home) / "seen.json"


def pid_path(home: Path) -> Path:
    return folder(home) / "router.pid"


def write_routes(home: Path, routes: dict[str, int]) -> None:
    """Replace the route table (host -> port) the router serves."""
    path = routes_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".new")
    scratch.write_text(json.dumps(routes, sort_keys=True))
    os.replace(scratch, path)


def last_requests(home: Path) -> dict[str, datetime]:
    """host -> the last request the router forwarded there."""
    try:
        raw = json.loads(seen_path(home).read_text())
    except (OSError, ValueError):
        return {}
    return {str(h): datetime.fromtimestamp(float(t), UTC) for h, t in raw.items()}


def router_pid(home: Path) -> int | None:
    """The router's pid while it runs (pid and start time both match), else None."""
    try:
        pid, start = (int(part) for part in pid_path(home).read_text().split())
    except (OSError, ValueError):
        return None
    return pid if is_alive(pid, start) else None


def ensure_router(home: Path, port: int) -> int:
    """Start the router on ``port`` unless it runs; its pid. DeployFailed when it cannot
    listen (the port is someone else's)."""
    running = router_pid(home)
    if running is not None:
        return running
    base = folder(home)
    base.mkdir(parents=True, exist_ok=True)
    if not routes_path(home).is_file():
        write_routes(home, {})
    argv = [
        sys.executable, "-m", "stageline.agent.router", "--port", str(port),
        "--routes", str(routes_path(home)), "--seen", str(seen_path(home)),
        "--log", str(base / "router.log"),
    ]  # fmt: skip
    with open(base / "router.out", "ab") as out:
        child = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise DeployFailed(
                "review",
                f"the review router could not listen on 127.0.0.1:{port}",
                hint="set another [review] router_port, or stop what holds that port",
            )
        if _listening(port):
            pid_path(home).write_text(f"{child.pid} {proc_start_time(child.pid)}\n")
            return child.pid
        time.sleep(0.05)
    child.kill()
    raise DeployFailed("review", f"the review router did not listen on {port} in {START_WAIT}s")


def stop_router(home: Path) -> bool:
    """Stop the router if it runs (SIGTERM, then SIGKILL after 5 s); True if it ran."""
    pid = router_pid(home)
    pid_path(home).unlink(missing_ok=True)
    if pid is None:
        return False
    start = proc_start_time(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while is_alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_alive(pid, start):
        os.kill(pid, signal.SIGKILL)
    return True


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0
