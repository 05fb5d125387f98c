"""The load gate's generator: its ceiling on this host beside wrk, and the A/B verdict's spread.

Run: .venv/bin/python bench/load.py [--seconds 3] [--rounds 5] [--quick]

1. **Ceiling.** A trivial HTTP server (one asyncio process answering a fixed 2-byte body
   on keep-alive connections; far cheaper per request than any real service) on
   127.0.0.1; stageline's open-loop generator (``stageline.load.generator``) is driven at
   doubling rates until it can no longer keep its schedule (over 1% of requests sent more
   than 10 ms late, or fewer than 95% answered in time); its ceiling is the last rate it
   kept. Then at 50%, 80% and 100% of that ceiling: the achieved req/s and the p99
   latency measured from the intended send time. Beside it, the reference: ``wrk``
   (C, epoll; closed loop: its figure is the most this server answers on one wrk thread,
   and its p99 is at that saturation).
2. **A/B spread.** Two copies of the same small service (tests/gates/load_service.py),
   loaded in turn with the same schedule as the gate does, ``--rounds`` times: the p99
   and p50 ratios the verdict judges, min / median / max, and how many rounds passed.
   An identical candidate should pass every round.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _quick import parse

from stageline.load.generator import drive
from stageline.load.judge import Budgets, judge, sizing, summarize
from stageline.load.measure import Sampler
from stageline.load.schedule import Call, Job, Source, plan
from stageline.services.postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "tests" / "gates" / "load_service.py"

TRIVIAL = r"""
import asyncio, sys
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        count = self.buffer.count(b"\r\n\r\n")  # GETs without bodies: one request each
        if count:
            self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4:]
            self.transport.write(ANSWER * count)
async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


def _start(argv: list[str], port: int, path: str = "/") -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
    for _ in range(100):
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1, trust_env=False)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{argv} did not answer on port {port}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _steady(port: int, rate: float, seconds: float) -> tuple[float, float, bool]:
    """(achieved req/s, p99 ms from intended time, whether the generator kept the
    schedule as the gate judges it: ``load.judge.sizing``) at ``rate``."""
    jobs = [Job(i / rate, "GET /", (Call("GET", "/"),)) for i in range(int(rate * seconds))]
    run = drive("127.0.0.1", port, jobs, max_connections=64, timeout=5)
    with Sampler(set) as sampler:
        pass
    side = summarize("trivial", [run], [sampler.usage], rate=rate, slice_seconds=seconds)
    return side.achieved_rps, side.p99_ms, not sizing(side)


def ceiling(port: int, seconds: float) -> float:
    """The highest doubling rate the generator keeps (see the module docstring)."""
    kept, rate = 0.0, 500.0
    while rate <= 64000:
        achieved, _p99, kept_up = _steady(port, rate, seconds)
        if not kept_up or achieved < 0.95 * rate:
            break
        kept, rate = rate, rate * 2
    if kept == 0:
        return 0.0
    low, high = kept, kept * 2  # one bisection step between the last kept and the first lost
    middle = (low + high) / 2
    achieved, _p99, kept_up = _steady(port, middle, seconds)
    return middle if kept_up and achieved >= 0.95 * middle else low


def wrk(port: int, seconds: float) -> tuple[float, float] | None:
    """wrk's (req/s, p99 ms) against the trivial server, or None without wrk."""
    found = shutil.which("wrk")
    if found is None:
        return None
    out = subprocess.run(
        [found, "-t1", "-c32", f"-d{max(1, round(seconds))}s", "--latency",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def spread(rounds: int, seconds: float, rate: float) -> None:
    """The A/B verdict's run-to-run spread on two identical services."""
    mix = {"GET /products": 0.5, "GET /orders/{id}": 0.4, "POST /orders": 0.1}
    sources = {
        "GET /orders/{id}": Source(rows=tuple((str(i),) for i in range(1, 50))),
        "POST /orders": Source(calls=(Call("POST", "/orders", b'{"sku": "TEA"}',
                                           (("Content-Type", "application/json"),)),)),
    }  # fmt: skip
    rounds_per_side = 3  # alternated, as the gate does
    jobs = plan(mix, rate, seconds / rounds_per_side, sources)
    warm = plan(mix, rate, 0.5, sources)
    p99s, p50s, verdicts = [], [], []
    for _ in range(rounds):
        ports = [free_port(), free_port()]
        procs = [_start([sys.executable, str(SERVICE), str(port)], port, "/healthz")
                 for port in ports]  # fmt: skip
        measured: list[list[tuple[object, object]]] = [[], []]
        try:
            for port in ports:
                drive("127.0.0.1", port, warm)
            for _round in range(rounds_per_side):
                for number, (port, proc) in enumerate(zip(ports, procs, strict=True)):
                    with Sampler(lambda proc=proc: {proc.pid}) as sampler:
                        run = drive("127.0.0.1", port, jobs)
                    measured[number].append((run, sampler.usage))
        finally:
            for proc in procs:
                _stop(proc)
        sides = [
            summarize(label, [m[0] for m in got], [m[1] for m in got], rate=rate,  # type: ignore[misc]
                      slice_seconds=seconds / rounds_per_side)
            for label, got in zip(("baseline", "candidate"), measured, strict=True)
        ]  # fmt: skip
        verdict = judge(sides[0], sides[1], Budgets())
        p99s.append(sides[1].p99_ms / max(sides[0].p99_ms, 1e-9))
        p50s.append(sides[1].p50_ms / max(sides[0].p50_ms, 1e-9))
        verdicts.append(verdict.status)
        if verdict.status != "passed":
            print(f"  round {len(verdicts)}: {verdict.status}: {verdict.summary}")
    print(f"A/B spread, identical candidate, {rounds} rounds of {seconds:g}s at {rate:g} req/s:")
    for name, ratios in (("p99", p99s), ("p50", p50s)):
        print(
            f"  {name} ratio: min {min(ratios):.2f} median {statistics.median(ratios):.2f} "
            f"max {max(ratios):.2f}"
        )
    print(f"  verdicts: {verdicts.count('passed')}/{rounds} passed ({', '.join(verdicts)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="A/B rounds")
    parser.add_argument("--rate", type=float, default=200.0, help="A/B rate (req/s)")
    args = parse(parser, seconds=1.0, rounds=2, rate=100.0)
    port = free_port()
    server = _start([sys.executable, "-c", TRIVIAL, str(port)], port)
    try:
        top = ceiling(port, args.seconds)
        print(f"generator ceiling on this host ({os.cpu_count()} cores): {top:.0f} req/s")
        print(f"  {'load':>6} {'rate':>8} {'achieved':>9} {'p99 ms':>8}")
        for share in (0.5, 0.8, 1.0):
            achieved, p99, _late = _steady(port, top * share, args.seconds)
            print(f"  {share:6.0%} {top * share:8.0f} {achieved:9.0f} {p99:8.2f}")
        reference = wrk(port, args.seconds)
        if reference is None:
            print("reference: wrk is not installed (apt-get install wrk)")
            raise SystemExit(1)
        print(f"  wrk (closed loop, 32 connections): {reference[0]:.0f} req/s, p99 "
              f"{reference[1]:.2f} ms")  # fmt: skip
        print(f"  ratio stageline / wrk: {top / reference[0]:.2f}")
    finally:
        _stop(server)
    spread(args.rounds, args.seconds, args.rate)


if __name__ == "__main__":
    main()
