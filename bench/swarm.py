"""The swarm target: image build time, and switches on swarm beside the local target.

Run: .venv/bin/python bench/swarm.py [--updates 10] [--rate 200] [--quick]

Starts its own Docker engine and single-node swarm (``tests/swarm/docker.py``: vfs
storage, host networking, the cached Debian base image) and the example service (shop).
Printed: the image build from a stored artifact, cold (no image of it in the engine)
and cached (recorded beside the artifact: nothing is built); then, unless ``--updates
0`` (``--quick``: a subprocess cannot share the test session's engine, so a quick run
prints the image figures only), production deployed on ``local`` and then on ``swarm``
(2 replicas): the time of one switch to a new release (what a promote does), and failed
requests and p50/p99 latency while ``--updates`` switches run (new release, then back)
under ``--rate`` requests a second. For swarm, what explains failed requests is printed
beside them: the engine's events during the run (health checks that failed, task
containers that died) and the front's log of backends it could not use.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from _quick import parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.helpers import use_free_ports
from tests.swarm.docker import BASE_IMAGE, docker_engine
from zero_downtime import Run, cli, load, report

from stageline.targets.swarm.engine import Engine
from stageline.targets.swarm.image import LABEL, ensure_image
from stageline.usecases import deploy, pipeline
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session
from stageline.usecases.status import down

OLD, NEW = TAGS


def image_figures(engine: Engine, repo: Path) -> None:
    with Session.open(repo) as session:
        record = session.store.find_artifacts(tag=OLD)[0]
        path = session.artifacts.path_for(record.digest)
        _, manifest = session.artifacts.load(record.digest)
    ids = engine.run(
        ["images", "-q", "--filter", f"label={LABEL}.artifact={record.digest}"]
    ).split()
    if ids:  # cold: no image of this artifact in the engine, no record beside it
        engine.run(["rmi", "-f", *ids])
    (path.parent / "images" / f"{path.name}.json").unlink(missing_ok=True)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        made, built = ensure_image(engine, path, manifest, record.digest, BASE_IMAGE)
        timings.append((time.perf_counter() - started, built))
    size = int(engine.run(["image", "inspect", made.id, "--format", "{{.Size}}"])) / 1e6
    print(f"image build: cold {timings[0][0]:.1f} s (built {timings[0][1]}), "
          f"cached {timings[1][0]:.2f} s (built {timings[1][1]}), {size:.0f} MB")  # fmt: skip


def to_swarm(repo: Path, engine: Engine) -> None:
    path = repo / "stageline.toml"
    text = path.read_text()
    text = re.sub(
        r"(\[environments\.production\][^\[]*?)target = \{ kind = \"local\", port = (\d+) \}",
        lambda m: (
            f'{m[1]}target = {{ kind = "swarm", port = {m[2]}, replicas = 2, '
            f'base_image = "{BASE_IMAGE}", docker_host = "{engine.host}" }}\nwatch = 0'
        ),
        text,
    )
    path.write_text(text)


def updates(repo: Path, url: str, count: int, rate: float) -> tuple[float, Run]:
    """One timed switch to NEW, then ``count`` switches under load; (seconds, run)."""
    started = time.perf_counter()
    cli(repo, "deploy", "production", NEW, "--force")
    switch = time.perf_counter() - started
    cli(repo, "rollback", "production", "--to", OLD, "--keep-schema")
    run, stop = Run(), threading.Event()
    thread = threading.Thread(target=load, args=(url, rate, stop, run))
    thread.start()
    try:
        time.sleep(3)
        for number in range(count):
            args = ("deploy", "production", NEW, "--force") if number % 2 == 0 else (
                "rollback", "production", "--to", OLD, "--keep-schema")  # fmt: skip
            began = time.perf_counter()
            if not cli(repo, *args, check=False):
                run.failed_commands += 1
            run.windows.append((began, time.perf_counter() + 0.5))
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    return switch, run


def engine_events(engine: Engine, since: float) -> dict[str, int]:
    """What the engine did to containers since ``since`` (epoch seconds): counts of
    ``health_status: unhealthy``, ``die`` and ``kill`` events."""
    args = ["events", "--since", f"{since:.0f}", "--until", f"{time.time():.0f}"]
    args += ["--filter", "type=container", "--format", "{{json .}}"]
    found = {"unhealthy": 0, "die": 0, "kill": 0}
    for line in engine.run(args).splitlines():
        action = str(json.loads(line).get("Action", ""))
        key = "unhealthy" if action == "health_status: unhealthy" else action
        if key in found:
            found[key] += 1
    return found


def front_failures(repo: Path, since: float) -> dict[str, int]:
    """The front's log lines about backends it could not use, by kind, since ``since``."""
    log = repo / ".stageline" / "envs" / "production" / "swarm" / "agent"
    kinds: dict[str, int] = {}
    for path in log.glob("front-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            match = re.search(r"proxy \d+: (cannot connect|backend \S+ failed: \w+)", line)
            stamp = line[:19]
            if match is None or not stamp[:4].isdigit():
                continue
            at = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
            if at >= since - 1:
                kind = re.sub(r"backend \S+", "backend", match[1])
                kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=10, help="switches under load per target")
    parser.add_argument("--rate", type=float, default=200, help="requests a second")
    args = parse(parser, updates=0)
    os.environ.setdefault("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", "sk_bench_not_real")
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-"))
    folder.chmod(0o755)
    repo = prepare_demo_repo(folder / "shop")
    use_free_ports(repo / "stageline.toml")
    try:
        with docker_engine() as engine:
            with Session.open(repo) as session:
                pipe = session.pipeline()
                url = pipe.environment("production").url
                for tag in TAGS:
                    if not args.updates:
                        pipeline.build(session, tag)
                        continue
                    for name in pipe.names:  # set-up, not measured: break glass
                        deploy.deploy(session, name, tag, force=True)
            image_figures(engine, repo)
            if not args.updates:
                return
            with Session.open(repo) as session:
                for name in pipe.names[:-1]:
                    down(session, name)
            results = {}
            for kind in ("local", "swarm"):
                if kind == "swarm":
                    with Session.open(repo) as session:
                        down(session, "production")
                    to_swarm(repo, engine)
                    cli(repo, "deploy", "production", NEW, "--force")  # the schema's release
                cli(repo, "rollback", "production", "--to", OLD, "--keep-schema")
                print(f"  {kind}: {args.updates} switches at {args.rate:.0f} req/s", flush=True)
                began = time.time()
                results[kind] = updates(repo, url, args.updates, args.rate)
            for kind, (switch, run) in results.items():
                print(f"promote time ({kind}): {switch:.1f} s")
                report(kind, run)
            events = engine_events(engine, began)
            print(f"    engine during the swarm run: {events['unhealthy']} failed health "
                  f"checks, {events['kill']} kills, {events['die']} task exits")  # fmt: skip
            print(f"    front: backends it could not use: {front_failures(repo, began) or 0}")
            with Session.open(repo) as session:
                down(session)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
