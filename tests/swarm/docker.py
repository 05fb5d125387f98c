"""A Docker engine of the tests' own: its own ``dockerd`` (vfs storage, no bridge, no
iptables, its own socket), a single-node swarm advertising 127.0.0.1, and the Debian
base image (``tests/fresh/rootfs.py``'s cached debootstrap root, ``docker import``-ed).

``advertising`` makes the swarm again on another loopback address for one test (its node's
address is then not 127.0.0.1), and on 127.0.0.1 after.

The engine's data folder is kept between test runs under the same cache as the root
(``$STAGELINE_TEST_CACHE/docker-<root key>/``, under a lock): the imported base image and
the images built from the shop's artifacts (same source, same digest, found again by
their labels) are then reused, and a test run pays for neither. A run that finds the
lock taken uses a throw-away data folder instead. Sockets and runtime files live in a
short temporary folder, removed after. Only the dockerd started here is stopped (by its
pid); what it runs of ours (services, secrets) is removed first; the routing mesh's
``ingress`` network and ``docker_gwbridge`` are removed after ``swarm init``: every
container uses the host's network.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stageline.services.postgres import free_port
from stageline.targets.swarm.engine import Engine, EngineError
from tests.fresh.rootfs import CACHE, cached_root

BASE_IMAGE = "stageline-test-base:bookworm-slim"
#: what the base image leaves out of the root (a third of it, none of it used at run time):
#: on vfs every container is a full copy of its image, so each one costs less
LEFT_OUT = ("./var/lib/apt/lists", "./usr/share/doc", "./usr/share/locale", "./usr/share/man")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _wait(engine: Engine, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not engine.reachable():
        if time.monotonic() > deadline:
            raise AssertionError(f"dockerd did not answer at {engine.host} in {timeout:g}s")
        time.sleep(0.2)


def _stop(pid: int) -> None:
    """SIGTERM the dockerd we started, SIGKILL it if it does not exit in time."""
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.1)


def _unmount_under(folder: Path) -> None:
    """Unmount what the stopped engine left mounted in its runtime folder (its network
    namespace file), deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{folder}/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _swarm(engine: Engine, address: str = "127.0.0.1") -> None:
    """A single-node swarm advertising ``address`` (its manager on a free port), with no
    overlay network of its own; one on another address (a kept data folder from a run
    killed inside ``advertising``) is left and made again."""
    info = engine.run(["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeAddr}}"])
    if info.split() != ["active", address]:
        if info.split()[0] == "active":
            engine.run(["swarm", "leave", "--force"])
        # a port of its own: another engine (the bench beside the tests, a second worker
        # whose cached data folder was taken) may hold the default 2377
        port = free_port()
        engine.run(
            ["swarm", "init", "--advertise-addr", f"{address}:{port}",
             "--listen-addr", f"{address}:{port}"]
        )  # fmt: skip
    for network in ("ingress", "docker_gwbridge"):
        with contextlib.suppress(EngineError):
            engine.run(["network", "rm", network], stdin=b"y\n")


@contextlib.contextmanager
def advertising(engine: Engine, address: str) -> Iterator[Engine]:
    """The session's engine as a swarm whose node is at ``address`` (another address of
    the loopback, so code that assumes 127.0.0.1 fails), made again on 127.0.0.1 after.
    Leaving a swarm drops its services and secrets: the caller's are removed first."""
    clean(engine)
    _swarm(engine, address)
    try:
        yield engine
    finally:
        with contextlib.suppress(EngineError):
            clean(engine)
        _swarm(engine)


def clean(engine: Engine) -> None:
    """Remove every service and secret (a killed run's leftovers, or this run's)."""
    services = engine.run(["service", "ls", "-q"]).split()
    if services:
        engine.run(["service", "rm", *services])
    deadline = time.monotonic() + 30
    while engine.run(["ps", "-aq"]).split() and time.monotonic() < deadline:
        time.sleep(0.3)
    secrets = engine.run(["secret", "ls", "-q"]).split()
    if secrets:
        engine.run(["secret", "rm", *secrets])


def _base_image(engine: Engine) -> None:
    if engine.inspect("image", BASE_IMAGE):
        return
    root = cached_root()
    left_out = [f"--exclude={path}" for path in LEFT_OUT]
    tar = subprocess.Popen(["tar", "-C", str(root), *left_out, "-c", "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    done = subprocess.run(
        engine.argv(["import", "-", BASE_IMAGE]), stdin=tar.stdout, env=engine.env(),
        capture_output=True, check=False,
    )  # fmt: skip
    tar.stdout.close()
    assert tar.wait() == 0 and done.returncode == 0, done.stderr.decode()


@contextlib.contextmanager
def _data_root() -> Iterator[Path]:
    """The kept data folder under its lock, or a throw-away one if another run holds it."""
    key = cached_root().name
    CACHE.mkdir(parents=True, exist_ok=True)
    kept = CACHE / f"docker-{key}"
    with open(CACHE / ".docker.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            folder = Path(tempfile.mkdtemp(prefix="stageline-docker-data-"))
            try:
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        for old in CACHE.glob("docker-*"):  # last week's root: its images with it
            if old != kept:
                shutil.rmtree(old, ignore_errors=True)
        yield kept


@contextlib.contextmanager
def docker_engine() -> Iterator[Engine]:
    """A running engine with a swarm and the base image; everything stopped after."""
    if shutil.which("dockerd") is None:
        raise AssertionError("dockerd is not installed: apt-get install docker.io (.ci/run does)")
    run = Path(tempfile.mkdtemp(prefix="sl-dk-"))
    with _data_root() as data, open(run / "dockerd.log", "wb") as log:
        argv = [
            "dockerd", "--storage-driver=vfs", "--bridge=none", "--iptables=false",
            "--ip6tables=false", "-H", f"unix://{run}/d.sock", "--data-root", str(data),
            "--exec-root", str(run / "x"), "--pidfile", str(run / "d.pid"),
        ]  # fmt: skip
        daemon = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        engine = Engine(f"unix://{run}/d.sock")
        try:
            _wait(engine, START_TIMEOUT)
            _swarm(engine)
            clean(engine)
            _base_image(engine)
            yield engine
        finally:
            with contextlib.suppress(EngineError):
                clean(engine)
            _stop(daemon.pid)
            _unmount_under(run)
            shutil.rmtree(run, ignore_errors=True)
