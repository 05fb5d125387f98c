"""Benchmark: what parity costs.

1. The probe: ``PROBE_SCRIPT`` in a real Python (stageline's own virtualenv, about a
   hundred distributions), against a bare interpreter start, side by side: the probe's
   own cost is the difference.
2. The comparison (pure): two facts with ``--packages`` distributions, a tenth of them
   different, and ``--variables`` names.
3. The DORA metrics (pure) over ``--deployments`` constructed deployment records.

Run: ``.venv/bin/python bench/parity.py`` (``--scale 0.1`` for a quick run,
``--quick`` for the smallest).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stageline.parity.compare import compare  # noqa: E402
from stageline.parity.facts import (  # noqa: E402
    PROBE_SCRIPT,
    BackingFacts,
    Facts,
    OsFacts,
    PythonFacts,
    parse_probe,
)
from stageline.parity.metrics import metrics  # noqa: E402
from stageline.state import ArtifactRecord, DeploymentRecord  # noqa: E402


def timed(fn: object, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return samples


def probe(repeat: int) -> None:
    python = sys.executable
    bare = timed(lambda: subprocess.run([python, "-I", "-c", "pass"], check=True), repeat)
    out: list[str] = []

    def run_probe() -> None:
        result = subprocess.run(
            [python, "-I", "-c", PROBE_SCRIPT], capture_output=True, text=True, check=True
        )
        out.append(result.stdout)

    full = timed(run_probe, repeat)
    _, _, packages = parse_probe(out[-1])
    b, f = statistics.median(bare), statistics.median(full)
    print(f"probe ({len(packages)} distributions), median of {repeat}:")
    print(f"  bare interpreter start  {b * 1000:8.1f} ms")
    print(f"  probe                   {f * 1000:8.1f} ms   ratio {f / b:5.2f}x")


def facts(name: str, packages: int, variables: int) -> Facts:
    return Facts(
        environment=name,
        digest="sha256:" + "a" * 64,
        release="1.0",
        os=OsFacts("debian", "12", "Debian GNU/Linux 12", "6.1", "x86_64", "glibc 2.36"),
        python=PythonFacts("cpython", "3.11.7"),
        packages={f"pkg-{i}": "1.0" for i in range(packages)},
        backing={"postgres": BackingFacts("PostgreSQL", "16.2", {"plpgsql": "1.0"})},
        variables=tuple(f"VAR_{i}" for i in range(variables)),
        overrides={"vars.LOG_LEVEL": "x"},
        infrastructure={},
    )


def comparison(packages: int, variables: int, repeat: int) -> None:
    a = facts("staging", packages, variables)
    changed = {**a.packages, **{f"pkg-{i}": "2.0" for i in range(0, packages, 10)}}
    b = replace(a, environment="production", packages=changed)
    equal = statistics.median(timed(lambda: compare(a, replace(a, environment="p")), repeat))
    drift = statistics.median(timed(lambda: compare(a, b), repeat))
    rows = len(compare(a, b).rows)
    print(f"compare ({packages} packages, {variables} variables), median of {repeat}:")
    print(f"  equal facts             {equal * 1000:8.2f} ms")
    print(f"  {packages // 10} packages differ     {drift * 1000:8.2f} ms   {rows} rows,"
          f" ratio {drift / equal:5.2f}x")  # fmt: skip


def dora(count: int) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    artifacts = {}
    deployments = []
    for i in range(count):
        digest = f"sha256:{i // 4}"
        when = t0 + timedelta(minutes=10 * i)
        artifacts[digest] = ArtifactRecord(
            digest, "shop", str(i), None, "r", "c", when, when, "ci", "h", 1, "/x"
        )
        env = ("development", "test", "staging", "production")[i % 4]
        status = "failed" if i % 37 == 0 else "succeeded"
        kind = "rollback" if i % 53 == 0 else "promote"
        deployments.append(
            DeploymentRecord(i + 1, env, digest, kind, status, "ana", when, when, None, "")  # type: ignore[arg-type]
        )
    started = time.perf_counter()
    figures = metrics(
        deployments,
        artifacts,
        environments=["development", "test", "staging", "production"],
        production="production",
        since=t0,
        until=t0 + timedelta(minutes=10 * count),
    )
    seconds = time.perf_counter() - started
    print(f"metrics over {count} deployments: {seconds * 1000:.1f} ms "
          f"({figures.changes} production changes, {figures.failures} failures)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    args = parse(parser, scale=0.01)
    scale = args.scale
    probe(max(3, int(10 * scale)))
    comparison(max(10, int(5000 * scale)), max(10, int(500 * scale)), max(3, int(20 * scale)))
    dora(max(100, int(20000 * scale)))


if __name__ == "__main__":
    main()
