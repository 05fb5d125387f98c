"""Review environments: what one costs to open, to keep and to close, and N at once.

Run: .venv/bin/python bench/review.py [--count N] [--quick]

On the example service, in a fresh repository whose v1.7.0-rc1 is already built:
- open: `review open feature-0` for a branch one commit ahead of that tag (the build
  takes the pinned wheels from the stored artifact: no download), its database cloned
  in the shared review server, deployed blue/green, first answer through its port;
- idle: the resident memory of that review's processes once idle (and, when the
  environment model has ``scale_to_zero_after``, after it scaled to zero, with the time
  to the first request that wakes it);
- N at once: N reviews of the same build (``--name``), total memory of their processes,
  the shared server's and the router's;
- close: `review close` of one;
- side by side: a full environment (development: its own PostgreSQL server, initdb
  included) deployed with the same build's tag, its time and memory.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _quick import parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.helpers import commit_and_tag, stop_everything, use_free_ports

from stageline.host.procfs import descendants, rss_bytes
from stageline.targets import review_router, review_server
from stageline.targets.local import port_is_free
from stageline.usecases import deploy, review, review_list
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session, build

TAG = TAGS[1]
MB = 2**20


def _configure(repo: Path, count: int) -> None:
    use_free_ports(repo / "stageline.toml")
    # review ports below the ephemeral range (as the default 9100-9299 is), where the
    # internal ports of blue/green copies and every client's own ports come from
    first = random.randrange(20000, 30000)
    while not all(port_is_free(p) for p in range(first, first + count + 3)):
        first = random.randrange(20000, 30000)
    router = first + count + 2
    extra = "scale_to_zero_after = 3\n"
    with (repo / "stageline.toml").open("a") as fh:
        fh.write(f"\n[review]\nports = [{first}, {first + count + 1}]\nrouter_port = {router}\n")
        fh.write(f"max_open = {count + 1}\n{extra}")
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "review template"], check=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "feature-0", TAG], check=True)
    commit_and_tag(repo, "feature-0-1", {"README.md": ("#", "# feature 0\n#")})
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)


def _wait_idle(session: Session, names: list[str], *, timeout: float) -> int:
    """Wait until every review in ``names`` has scaled to zero (or ``timeout``); how many did."""
    pipe = session.pipeline()
    home = session.workspace.home
    deadline = time.monotonic() + timeout
    while True:
        states = [
            session.target(
                review_list.bare(pipe, review_list.find(home, n)), pipe.service.name
            ).status()
            for n in names
        ]
        asleep = sum(1 for st in states if st is not None and st.state == "idle")
        if asleep == len(names) or time.monotonic() > deadline:
            return asleep
        time.sleep(0.5)


def _pids(session: Session, name: str) -> set[int]:
    pipe = session.pipeline()
    record = review_list.find(session.workspace.home, name)
    status = session.target(review_list.bare(pipe, record), pipe.service.name).status()
    roots = {p.pid for p in status.processes if p.pid} if status else set()
    fronts = _fronts(session, name)
    return set().union(*(descendants(pid) for pid in roots | fronts)) if roots | fronts else set()


def _fronts(session: Session, name: str) -> set[int]:
    from stageline.agent.state import AgentPaths, load_running

    running = load_running(AgentPaths(session.workspace.home))
    return {entry.pid for key, entry in running.items() if key == f"{name}:front"}


def _shared_mb(session: Session) -> float:
    home = session.workspace.home
    pids: set[int] = set()
    server = review_server.running_server(home)
    if server is not None and server.pid is not None:
        pids |= descendants(server.pid)
    router = review_router.router_pid(home)
    if router is not None:
        pids |= descendants(router)
    return rss_bytes(pids) / MB


def _env_mb(session: Session, environment: str) -> float:
    pipe = session.pipeline()
    env = pipe.environment(environment)
    status = session.target(env, pipe.service.name).status()
    roots = {p.pid for p in status.processes if p.pid} if status else set()
    from stageline.agent.state import AgentPaths, load_running

    running = load_running(AgentPaths(session.workspace.home))
    roots |= {e.pid for k, e in running.items() if k == f"{environment}:front"}
    server = session.workspace.home / "envs" / environment / "postgres" / "data"
    server = server / "postmaster.pid"
    if server.is_file():
        roots.add(int(server.read_text().split()[0]))
    return rss_bytes(set().union(*(descendants(p) for p in roots))) / MB


def run(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-review-"))
    folder.chmod(0o755)
    repo = prepare_demo_repo(folder / "shop")
    try:
        _configure(repo, count)
        with Session.open(repo) as session:
            build(session, TAG)  # the already-built tag (not timed)
            started = time.perf_counter()
            opened = review.open_review(session, "feature-0")
            httpx.get(opened.record.url + "/healthz", trust_env=False, timeout=10)
            open_s = time.perf_counter() - started
            print(f"open (one commit ahead of a built tag): {open_s:6.2f} s")
            time.sleep(2)
            idle = rss_bytes(_pids(session, opened.record.name)) / MB
            print(f"idle review environment: {idle:8.1f} MB (service, its launcher, its front)")
            opening = []
            for i in range(1, count):
                t = time.perf_counter()
                review.open_review(session, "feature-0", name=f"copy-{i}")
                opening.append(time.perf_counter() - t)
            if opening:
                print(f"open of the same build again (no build): {min(opening):6.2f} s "
                      f"(min of {len(opening)})")  # fmt: skip
            time.sleep(2)
            names = [r.name for r in review_list.load_all(session.workspace.home)]
            own = sum(rss_bytes(_pids(session, n)) for n in names) / MB
            shared = _shared_mb(session)
            print(f"{len(names)} open at once: {own + shared:8.1f} MB total "
                  f"({own:.1f} MB reviews + {shared:.1f} MB shared server and router)")  # fmt: skip
            asleep = _wait_idle(session, names, timeout=60)
            after = sum(rss_bytes(_pids(session, n)) for n in names) / MB
            print(f"after scale to zero ({asleep} of {len(names)} idle): "
                  f"{after + _shared_mb(session):8.1f} MB total, "
                  f"{after / len(names):.1f} MB a review (its front)")  # fmt: skip
            t = time.perf_counter()
            httpx.get(opened.record.url + "/healthz", trust_env=False, timeout=30)
            print(f"first request to a scaled-to-zero review: {time.perf_counter() - t:6.2f} s")
            t = time.perf_counter()
            review.close_review(session, names[-1])
            print(f"close: {time.perf_counter() - t:6.2f} s")
            t = time.perf_counter()
            deploy.deploy(session, "development", TAG)
            full_s = time.perf_counter() - t
            time.sleep(2)
            full = _env_mb(session, "development")
            print(f"full environment (own server): {full:8.1f} MB, deployed in {full_s:6.2f} s "
                  f"(initdb included) vs {idle:.1f} MB and {open_s:.2f} s a review")  # fmt: skip
            for name in names[:-1]:
                review.close_review(session, name)
    finally:
        try:
            stop_everything(repo)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="review environments at once")
    args = parse(parser, count=1)
    run(args.count)


if __name__ == "__main__":
    main()
