"""Failed requests and latency while releases switch: blue/green versus plain restart.

Run: .venv/bin/python bench/zero_downtime.py [--cycles 20] [--rate 250] [--environment production]
[--proxy-rounds 500] [--strategies blue-green restart] [--quick]

On the example service (shop), in one run: both tags are deployed through every tier
into the environment (production by default), then a load generator on 127.0.0.1 keeps
``--rate`` requests a second going at it (half over keep-alive connections, half on a
new connection each) while ``--cycles`` deploy/rollback cycles run through the CLI, once
with ``strategy = "blue-green"`` and once with ``strategy = "restart"`` (``--strategies``).
Printed per strategy: requests sent and failed, p50/p99 latency in steady state and during
switches (while a deploy or rollback command runs). Then the proxy's added latency: the
median of ``--proxy-rounds`` sequential keep-alive requests straight to a service
process's internal port versus through the proxy, interleaved. The deploys of the cycles are
break-glass (``--force``): the bench measures switches, not the sign-off that holds them.
``--quick`` runs on development (the first tier: two deploys to set up instead of eight),
blue/green only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _quick import parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.helpers import use_free_ports

from stageline.agent.client import AgentClient
from stageline.usecases import deploy
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session
from stageline.usecases.status import down

OLD, NEW = TAGS
STRATEGIES = ("blue-green", "restart")
PATH = "/healthz"  # the lightest real endpoint: one query against the environment's PostgreSQL


@dataclass
class Sample:
    at: float
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    failed_commands: int = 0

    def during(self, sample: Sample) -> bool:
        return any(start <= sample.at <= end for start, end in self.windows)


async def worker(
    url: str, interval: float, keep_alive: bool, stop: threading.Event, run: Run
) -> None:
    """Open loop: one request every ``interval`` seconds, whatever the answers take."""
    limits = httpx.Limits(max_keepalive_connections=4 if keep_alive else 0)
    async with httpx.AsyncClient(trust_env=False, timeout=10, limits=limits) as client:
        headers = {} if keep_alive else {"Connection": "close"}
        pending: set[asyncio.Task[None]] = set()

        async def one() -> None:
            started = time.perf_counter()
            try:
                answer = await client.get(url + PATH, headers=headers)
                ok, error = answer.status_code == 200, f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, type(exc).__name__
            run.samples.append(
                Sample(started, time.perf_counter() - started, ok, "" if ok else error)
            )

        next_at = time.perf_counter()
        while not stop.is_set():
            task = asyncio.create_task(one())
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_at += interval
            await asyncio.sleep(max(next_at - time.perf_counter(), 0))
        await asyncio.gather(*pending)


def load(url: str, rate: float, stop: threading.Event, run: Run) -> None:
    async def main() -> None:
        per = rate / 4
        await asyncio.gather(
            *(worker(url, 1 / per, keep, stop, run) for keep in (True, True, False, False))
        )

    asyncio.run(main())


def cli(repo: Path, *args: str, check: bool = True) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(repo)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        message = f"stageline {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        if check:
            raise SystemExit(message)
        print("    " + message.strip().splitlines()[-2], flush=True)
    return done.returncode == 0


def set_strategy(repo: Path, environment: str, strategy: str) -> None:
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text()
    header = f"[environments.{environment}]\n"
    lines = [line for line in text.split("\n") if not line.startswith("strategy = ")]
    setting = f'strategy = "{strategy}"\nhealth_timeout = 20\n'
    text = (
        "\n".join(lines).replace("health_timeout = 20\n", "").replace(header, header + setting, 1)
    )
    pipeline_file.write_text(text)


def cycles(repo: Path, environment: str, url: str, count: int, rate: float) -> Run:
    run = Run()
    stop = threading.Event()
    thread = threading.Thread(target=load, args=(url, rate, stop, run))
    thread.start()
    try:
        time.sleep(3)  # steady state first
        for number in range(count):
            for args in (
                ("deploy", environment, NEW, "--force"),
                ("rollback", environment, "--to", OLD, "--keep-schema"),
            ):
                started = time.perf_counter()
                if not cli(repo, *args, check=False):
                    run.failed_commands += 1
                run.windows.append((started, time.perf_counter() + 0.5))
                time.sleep(1.5)
            print(f"    cycle {number + 1}/{count} done", flush=True)
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    return run


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000


def report(name: str, run: Run) -> None:
    failed = [s for s in run.samples if not s.ok]
    steady = [s.seconds for s in run.samples if s.ok and not run.during(s)]
    during = [s.seconds for s in run.samples if s.ok and run.during(s)]
    span = max(s.at for s in run.samples) - min(s.at for s in run.samples)
    kinds: dict[str, int] = {}
    for sample in failed:
        kinds[sample.error] = kinds.get(sample.error, 0) + 1
    sent = len(run.samples)
    print(f"  {name}:")
    print(f"    requests sent {sent} ({sent / span:.0f}/s), failed {len(failed)} {kinds or ''}")
    print(f"    deploy/rollback commands that failed: {run.failed_commands}")
    for label, values in (("steady", steady), ("switch", during)):
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        print(f"    {label}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  (n={len(values)})")
    if steady and during:
        ratio = pct(during, 0.99) / pct(steady, 0.99)
        print(f"    p99 during switches / steady p99: {ratio:.2f} (aim <= 2)")


def proxy_overhead(repo: Path, environment: str, url: str, rounds: int) -> tuple[float, float]:
    proxied = AgentClient(repo / ".stageline").proxied()[environment]
    internal = proxied["processes"][0]["port"]
    direct_times: list[float] = []
    proxy_times: list[float] = []
    with (
        httpx.Client(trust_env=False, timeout=10) as direct,
        httpx.Client(trust_env=False, timeout=10) as via,
    ):
        for i in range(rounds + 50):
            for client, base, sink in (
                (direct, f"http://127.0.0.1:{internal}", direct_times),
                (via, url, proxy_times),
            ):
                started = time.perf_counter()
                client.get(base + PATH).raise_for_status()
                if i >= 50:  # warm-up
                    sink.append(time.perf_counter() - started)
    return statistics.median(direct_times) * 1000, statistics.median(proxy_times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cycles", type=int, default=20, help="deploy/rollback cycles per strategy"
    )
    parser.add_argument("--rate", type=float, default=250, help="requests a second")
    parser.add_argument("--environment", default="production")
    parser.add_argument("--path", default=PATH, help="what the load asks for (default %(default)s)")
    parser.add_argument(
        "--proxy-rounds", type=int, default=500, help="requests each way for the proxy's latency"
    )
    parser.add_argument(
        "--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES), metavar="NAME"
    )
    args = parse(
        parser,
        cycles=1,
        rate=50.0,
        environment="development",
        proxy_rounds=50,
        strategies=["blue-green"],
    )
    globals()["PATH"] = args.path
    os.environ.setdefault("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", "sk_bench_not_real")
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-"))
    folder.chmod(0o755)
    repo = prepare_demo_repo(folder / "shop")
    use_free_ports(repo / "stageline.toml")
    try:
        with Session.open(repo) as session:
            pipe = session.pipeline()
            url = pipe.environment(args.environment).url
            chain = pipe.names[: pipe.names.index(args.environment) + 1]
            for tag in TAGS:  # through every tier: production takes what staging ran
                for name in chain:  # set-up, not what is measured: no gates, so break glass
                    deploy.deploy(session, name, tag, force=True)
            for name in chain[:-1]:
                down(session, name)  # only the measured environment keeps running
        print(f"example service shop, {args.environment}, {args.cycles} deploy/rollback cycles "
              f"per strategy, {args.rate:.0f} req/s on {PATH}", flush=True)  # fmt: skip
        results = {}
        for strategy in args.strategies:
            print(f"  {strategy}: running", flush=True)
            set_strategy(repo, args.environment, strategy)
            # OLD, under this strategy (on NEW's schema: its added column is nullable)
            cli(repo, "rollback", args.environment, "--to", OLD, "--keep-schema")
            results[strategy] = cycles(repo, args.environment, url, args.cycles, args.rate)
            if strategy == "blue-green":
                direct, via = proxy_overhead(repo, args.environment, url, args.proxy_rounds)
        for strategy, run in results.items():
            report(strategy, run)
        if "blue-green" in results:
            print(f"  proxy: median direct {direct:.3f} ms, through the proxy {via:.3f} ms, "
                  f"added {via - direct:.3f} ms (aim < 1 ms)")  # fmt: skip
    finally:
        agent_log = repo / ".stageline" / "agent" / "agent.log"
        if agent_log.is_file():  # the proxy's and the switches' own account, for a look after
            shutil.copy(agent_log, Path(tempfile.gettempdir()) / "zero_downtime-agent.log")
        with Session.open(repo) as session:
            down(session)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
