"""Fixtures for the agent's tests: a short home folder, specs for the test app, and a
teardown that always stops the agent and kills every process a test may have left."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.agent.release import ReleaseSpec
from stageline.agent.spec import ProcessSpec
from stageline.agent.state import AgentPaths, load_running
from stageline.errors import AgentError
from stageline.host.procfs import is_alive

from .helpers import APP, Reaper, ReleaseFactory, SpecFactory, free_port


@pytest.fixture
def home() -> Iterator[Path]:
    # short: a unix socket path must fit in 107 bytes, pytest's tmp_path may not
    root = Path(tempfile.mkdtemp(prefix="sla-", dir="/tmp"))
    yield root / ".stageline"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def reaper(home: Path) -> Iterator[Reaper]:
    reaper = Reaper()
    yield reaper
    paths = AgentPaths(home)
    with contextlib.suppress(AgentError):
        AgentClient(home).shutdown(timeout=30)
    with contextlib.suppress(OSError, ValueError):
        reaper.track(int(paths.pid.read_text()))
    with contextlib.suppress(AgentError):
        for entry in load_running(paths).values():
            if is_alive(entry.pid, entry.proc_start):
                reaper.track(entry.pid)
    reaper.kill_all()


@pytest.fixture
def client(home: Path, reaper: Reaper) -> AgentClient:
    client = AgentClient(home)
    client.ensure_running()
    reaper.track(client.agent_pid())
    return client


@pytest.fixture
def make_spec(home: Path) -> SpecFactory:
    def make(
        environment: str = "staging",
        release: str = "sha256:r1",
        *,
        port: int | None = None,
        **app_env: str,
    ) -> ProcessSpec:
        port = port or free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
        env.update({"APP_VERSION": release, **app_env})
        return ProcessSpec(
            environment=environment,
            release=release,
            argv=[sys.executable, str(APP), str(port)],
            cwd=str(APP.parent),
            env=env,
            port=port,
            health_path="/healthz",
            log_path=str(home / "logs" / f"{environment}.log"),
        )

    return make


@pytest.fixture
def make_release(home: Path) -> ReleaseFactory:
    """A blue/green release of the test app: ``{port}`` left for the agent to fill in."""

    def make(
        release: str = "sha256:r1",
        *,
        public_port: int,
        environment: str = "staging",
        processes: int = 1,
        watch: float = 0.0,
        drain_timeout: float = 10.0,
        health_timeout: float = 15.0,
        **app_env: str,
    ) -> ReleaseSpec:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
        env.update({"APP_VERSION": release, **app_env})
        template = ProcessSpec(
            environment=environment,
            release=release,
            argv=[sys.executable, str(APP), "{port}"],
            cwd=str(APP.parent),
            env=env,
            port=public_port,
            health_path="/healthz",
            log_path=str(home / "logs" / f"{environment}.log"),
        )
        return ReleaseSpec(
            template,
            processes=processes,
            drain_timeout=drain_timeout,
            watch=watch,
            health_timeout=health_timeout,
        )

    return make
