"""Helpers shared by the agent's tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.agent.release import ReleaseSpec
from stageline.agent.spec import ProcessSpec
from stageline.host.procfs import is_alive, proc_start_time

APP = Path(__file__).with_name("app.py")
SpecFactory = Callable[..., ProcessSpec]
ReleaseFactory = Callable[..., ReleaseSpec]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str = "/healthz") -> dict[str, Any]:
    response = httpx.get(f"http://127.0.0.1:{port}{path}", trust_env=False, timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


class Reaper:
    """Remembers processes (pid + start time) and SIGKILLs their groups at teardown."""

    def __init__(self) -> None:
        self.pids: dict[int, int | None] = {}

    def track(self, pid: int | None) -> None:
        if pid is not None and pid not in self.pids:
            self.pids[pid] = proc_start_time(pid)

    def kill_all(self) -> None:
        for pid, start in self.pids.items():
            if is_alive(pid, start):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
