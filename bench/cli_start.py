"""Benchmark: how fast the ``stageline`` command starts, beside Python itself and Typer + Rich.

Times, in fresh processes, ``stageline --help``, ``stageline version`` and ``stageline
check -C examples/shop`` side by side with ``python -c pass`` and ``python -c "import
typer, rich"`` (the floor any Typer CLI pays). The five commands run round-robin, so a
burst of load on a shared machine hits them all alike; each is run once first to write
the bytecode caches. Prints, per command, the median wall time and the median CPU time
(user + system of the child: what the start costs the machine, less sensitive to load)
over N runs, and both ratios; the aim is 300 ms wall for the three stageline commands.

Run: ``.venv/bin/python bench/cli_start.py [--runs N] [--quick] [--venv PATH]``;
``--venv /work/main/.venv`` times another checkout's installed ``stageline``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"
AIM_MS = 300.0


@dataclass
class Timed:
    """One command under test and its samples (milliseconds)."""

    label: str
    argv: list[str]
    wall: list[float]
    cpu: list[float]


def child_env(pycache: Path) -> dict[str, str]:
    """The environment of every timed run: bytecode cached, as a user's runs are (even
    under PYTHONDONTWRITEBYTECODE), in ``pycache`` so the virtualenv timed is not touched."""
    env = {**os.environ, "COLUMNS": "100", "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run; raises if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def commands(venv: Path) -> list[Timed]:
    python, stageline = str(venv / "bin" / "python"), str(venv / "bin" / "stageline")
    table = [
        ("python -c pass", [python, "-c", "pass"]),
        ("import typer, rich", [python, "-c", "import typer, rich"]),
        ("stageline --help", [stageline, "--help"]),
        ("stageline version", [stageline, "version"]),
        ("stageline check (shop)", [stageline, "check", "-C", str(SHOP)]),
    ]
    return [Timed(label, argv, [], []) for label, argv in table]


def measure(timed: list[Timed], runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="stageline-pycache-") as pycache:
        env = child_env(Path(pycache))
        for each in timed:
            run_once(each.argv, env)  # warm-up: writes the bytecode caches
        for _ in range(runs):
            for each in timed:
                wall, cpu = run_once(each.argv, env)
                each.wall.append(wall)
                each.cpu.append(cpu)


def report(timed: list[Timed], runs: int, venv: Path) -> bool:
    """Print the table; True when every stageline command is within the aim."""
    floor, typer_rich = timed[0], timed[1]
    pass_ms, typer_ms = statistics.median(floor.wall), statistics.median(typer_rich.wall)
    print(f"start-up, median of {runs} runs ({venv}); load average {os.getloadavg()[0]:.1f}")
    print(f"  {'command':<24}{'wall ms':>9}{'cpu ms':>9}{'x pass':>9}{'x typer':>9}")
    within = True
    for each in timed:
        wall, cpu = statistics.median(each.wall), statistics.median(each.cpu)
        verdict = ""
        if each.label.startswith("stageline"):
            ok = wall <= AIM_MS
            within = within and ok
            verdict = "  within" if ok else "  OVER"
        print(
            f"  {each.label:<24}{wall:9.0f}{cpu:9.0f}{wall / pass_ms:9.1f}"
            f"{wall / typer_ms:9.2f}{verdict}"
        )
    print(f"  aim: stageline commands <= {AIM_MS:.0f} ms wall")
    return within


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument(
        "--venv", type=Path, default=Path(sys.prefix), help="the virtualenv whose stageline to time"
    )
    args = parse(parser, runs=3)
    runs = args.runs
    timed = commands(args.venv)
    measure(timed, runs)
    report(timed, runs, args.venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
