"""Benchmark: how long ``import stageline.runtime`` takes in a fresh interpreter.

Runs ``python -X importtime -c "import stageline.runtime"`` in 20 fresh subprocesses
(after one warm-up run that writes the bytecode caches) and reads the cumulative
microseconds the interpreter reports for ``stageline.runtime``: that figure includes
every standard-library module it pulls in that was not already loaded at start-up.
Prints the median and the aim (20 ms).
Run: ``.venv/bin/python bench/runtime_import.py [--runs 20] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
AIM_MS = 20.0


def import_us() -> int:
    """Cumulative import time of stageline.runtime, in microseconds, in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import stageline.runtime"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    for line in done.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package"
        fields = [part.strip() for part in line.split("|")]
        if len(fields) == 3 and fields[2] == "stageline.runtime":
            return int(fields[1])
    raise RuntimeError(f"no import time for stageline.runtime in:\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="fresh processes timed")
    runs = parse(parser, runs=3).runs
    import_us()  # warm-up: compile bytecode
    samples = sorted(import_us() / 1000 for _ in range(runs))
    median = statistics.median(samples)
    verdict = "within" if median <= AIM_MS else "OVER"
    print(f"import stageline.runtime: median {median:.1f} ms over {runs} fresh processes")
    print(f"  min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms; aim {AIM_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
