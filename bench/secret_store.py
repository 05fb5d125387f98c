"""Benchmark: what secret masking costs a service's log, and the audit chain check.

Side by side, on the same generated log (lines of text with secret values sprinkled in):
copying it through a plain pipe (``cat``) versus through ``stageline.launch`` (which
masks every value, also when split across reads); the Redactor alone in memory; the
launcher's start-up time; and ``audit verify`` over N events in a SQLite store.
Run: ``.venv/bin/python bench/secret_store.py [--mb 50] [--events 20000] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stageline.redact import Redactor  # noqa: E402
from stageline.state import Store  # noqa: E402
from stageline.usecases import audit  # noqa: E402

SECRETS = {f"KEY_{i}": f"sk_live_{i:02d}_{os.urandom(8).hex()}" for i in range(8)}


def make_log(path: Path, megabytes: float) -> int:
    rng = random.Random(7)
    values = list(SECRETS.values())
    size = 0
    with path.open("w") as out:
        while size < megabytes * 1_000_000:
            line = f"INFO request id={rng.randrange(10**9)} path=/orders status=200 ms=12\n"
            if rng.random() < 0.05:
                line = f"DEBUG using key {rng.choice(values)} for the provider\n"
            out.write(line)
            size += len(line)
    return size


def timed(argv: list[str], env: dict[str, str], source: Path) -> tuple[float, bytes]:
    with source.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(argv, stdin=stdin, capture_output=True, env=env, check=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=50.0, help="log size in MB")
    parser.add_argument("--events", type=int, default=20000, help="audit events to verify")
    args = parse(parser, mb=1.0, events=500)
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "service.log"
        size = make_log(log, args.mb)
        env = {**os.environ, **SECRETS, "STAGELINE_SECRET_NAMES": ",".join(SECRETS)}
        plain, raw = timed(["cat"], env, log)
        launch = [sys.executable, "-m", "stageline.launch", "--", "cat"]
        masked_time, masked = timed(launch, env, log)
        startup, _ = timed([*launch[:-1], "true"], env, Path("/dev/null"))
        assert not any(v.encode() in masked for v in SECRETS.values())
        redactor = Redactor(SECRETS)
        started = time.perf_counter()
        for offset in range(0, len(raw), 65536):
            redactor.feed(raw[offset : offset + 65536])
        redactor.flush()
        memory = time.perf_counter() - started
        mb = size / 1e6
        print(f"log {mb:.1f} MB, {len(SECRETS)} secrets")
        print(f"  cat alone            {plain:7.3f} s  {mb / plain:8.1f} MB/s")
        print(
            f"  through the launcher {masked_time:7.3f} s  {mb / masked_time:8.1f} MB/s"
            f"  ({masked_time / plain:.1f}x cat)"
        )
        print(f"  Redactor in memory   {memory:7.3f} s  {mb / memory:8.1f} MB/s")
        print(f"  launcher start-up    {startup:7.3f} s (python -m stageline.launch -- true)")

        with Store.open(f"sqlite:///{folder}/state.db") as store:
            started = time.perf_counter()
            for n in range(args.events):
                store.append_event("bench", actor="ops", environment="staging", data={"n": n})
            appended = time.perf_counter() - started
            started = time.perf_counter()
            report = audit.verify(store)
            checked = time.perf_counter() - started
        assert report.ok
        print(
            f"audit: {args.events} events appended in {appended:.2f} s,"
            f" chain verified in {checked:.3f} s ({args.events / checked:,.0f} events/s)"
        )


if __name__ == "__main__":
    main()
