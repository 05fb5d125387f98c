"""Start worker processes that race on the same store at the same moment."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

WORKER = Path(__file__).with_name("lock_worker.py")
PATIENCE = 120.0  # seconds: only a guard against a hang, never a measured expectation


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def race(mode: str, url: str, workdir: Path, count: int = 2) -> list[tuple[int, str]]:
    """Run ``count`` workers; return each one's (pid, output) in start order."""
    holders = [f"worker{i}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), mode, url, "pipeline", holder, str(workdir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for holder in holders
    ]
    try:

        def all_ready() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise AssertionError(f"worker died early: {proc.communicate()}")
            return all((workdir / f"ready-{h}").exists() for h in holders)

        wait_until(all_ready, "workers to be ready")
        (workdir / "go").touch()
        if mode == "lock":  # losers exit at once; the winner holds until released
            wait_until(lambda: sum(p.poll() is not None for p in procs) >= count - 1, "losers")
            (workdir / "release").touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=PATIENCE)
            assert proc.returncode == 0, err
            results.append((proc.pid, out.strip()))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
