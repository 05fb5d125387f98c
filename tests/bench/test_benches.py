"""Benchmarks do not rot: each ``bench/*.py`` runs with ``--quick`` and prints its figures.

A benchmark is run the way a person runs it (a fresh ``python bench/NAME.py --quick``,
from the repository root); the test fails when it exits non-zero or when a line that
carries its figures is missing. Sizes are each benchmark's smallest (see ``--help``);
the ones on the example pipeline (promote, dashboard, zero_downtime) still build both
releases and bring up its environments, so they take the longest.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

#: per benchmark, the lines that carry its figures (a regular expression each)
FIGURES = {
    "build": [r"^cold build: +[\d.]+ s", r"^offline install \(uv\): +[\d.]+ s", r"equal: +True"],
    "cli_start": [
        r"^  python -c pass +\d+ +\d+",
        r"^  stageline --help +\d+ +\d+ +[\d.]+ +[\d.]+",
        r"^  stageline check \(shop\) +\d+ +\d+",
    ],
    "dashboard": [r"^real run .*: [\d.]+ s", r"median / p95 in ms"],
    "load": [
        r"^generator ceiling on this host \(\d+ cores\): [1-9]\d* req/s",
        r"^ +100% +\d+ +\d+ +[\d.]+",
        r"^  wrk \(closed loop, 32 connections\): \d+ req/s, p99 [\d.]+ ms",
        r"^  p99 ratio: min [\d.]+ median [\d.]+ max [\d.]+",
        r"^  verdicts: \d+/\d+ passed",
    ],
    "parity": [r"^  probe +[\d.]+ ms +ratio", r"^metrics over \d+ deployments: [\d.]+ ms"],
    "promote": [r"^  promote again.*: +[\d.]+ s", r"^  cold promote / rebuild +: +[\d.]+"],
    "rehearsal": [
        r"^  CREATE INDEX CONCURRENTLY +\d+ +\d+",
        r"^  ratio: [\d.]+",
        r"^  after +[\d.]+ +[\d.]+",
    ],
    "rehearsal_corpus": [r"^stageline \(defaults\): +caught \d+/\d+ dangerous"],
    "review": [
        r"^open \(one commit ahead of a built tag\): +[\d.]+ s",
        r"^idle review environment: +[\d.]+ MB",
        r"^\d+ open at once: +[\d.]+ MB total",
        r"^close: +[\d.]+ s",
        r"^full environment \(own server\): +[\d.]+ MB",
    ],
    "runtime_import": [r"^import stageline.runtime: median [\d.]+ ms"],
    "secret_store": [r"^  through the launcher +[\d.]+ s", r"chain verified in [\d.]+ s"],
    "snapshot": [r"^masked / plain: [\d.]+x", r"^leak scan .* in [\d.]+s", r"^clone is [\d.]+x"],
    "traffic": [
        r"^  p50 added by recording: +-?[\d.]+ ms",
        r"^recorder alone: [\d.]+ us per request",
    ],
    "swarm": [r"^image build: cold [\d.]+ s \(built True\), cached [\d.]+ s \(built False\)"],
    "zero_downtime": [r"requests sent \d+ .* failed \d+", r"^  proxy: median direct [\d.]+ ms"],
}


def test_every_benchmark_has_its_figures_listed() -> None:
    assert {path.stem for path in BENCH.glob("[!_]*.py")} == set(FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_benchmark_runs_quick(name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    shown = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, shown
    for figure in FIGURES[name]:
        assert re.search(figure, done.stdout, flags=re.MULTILINE), f"no {figure!r} in\n{shown}"
