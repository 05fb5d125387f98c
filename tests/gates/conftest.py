"""Fixtures for the gates' tests: a real HTTP service, and contexts to run gates in."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from stageline.config.model import Environment, Pipeline
from stageline.config.resolve import PostgresFacts
from stageline.gates import GateContext
from stageline.parity.facts import Facts, NotDeployed
from stageline.targets.backing import postgres_facts, server_admin_url
from stageline.usecases.gating import GateViews

SERVICE = Path(__file__).with_name("service.py")


@dataclass
class Service:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def start_service(**env: str) -> Iterator[Service]:
    """The test service on a free port (it binds port 0 and prints the port)."""
    process = subprocess.Popen(
        [sys.executable, str(SERVICE)],
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield Service(f"http://127.0.0.1:{port}", process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stdout:
            process.stdout.close()


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    with start_service() as running:
        yield running


MakeContext = Callable[..., GateContext]


class Nowhere:
    """The store of a workspace that holds nothing: no snapshot, no secret."""

    def newest_snapshot(self, environment: str) -> str | None:
        return None

    def secrets(self, environment: str) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class HostTargets:
    """The environments of ``pipeline`` on this host with nothing deployed: backing facts
    from ``targets.backing`` under ``home``, and no facts to probe."""

    home: Path
    pipeline: Pipeline

    def postgres(self, environment: str) -> PostgresFacts | None:
        env = self.pipeline.environment(environment)
        return postgres_facts(self.home, env, self.pipeline.service.name)

    def admin_url(self, environment: str, database: str = "postgres") -> str:
        return server_admin_url(self.home, self.pipeline.environment(environment), database)

    def probe(self, environment: str) -> Facts:
        raise NotDeployed(environment)

    def serving_ports(self, environment: str) -> tuple[int, ...]:
        return ()  # nothing deployed: the gate finds the service by its URL's port


@pytest.fixture
def make_context(tmp_path: Path) -> MakeContext:
    """Build a GateContext; keyword arguments override the defaults, ``views`` (a
    ``GateViews``) gives the pipeline, store and targets at once."""

    def make(url: str = "http://127.0.0.1:9", **overrides: Any) -> GateContext:
        name = overrides.pop("name", "gate")
        evidence = tmp_path / "evidence" / name
        evidence.mkdir(parents=True, exist_ok=True)
        bundle = tmp_path / "bundle"
        bundle.mkdir(exist_ok=True)
        environment = Environment.model_validate(
            {"name": "staging", "tier": "staging", "url": url, "target": {"port": 8603}}
        )
        values: dict[str, Any] = {
            "name": name,
            "environment": environment,
            "url": url,
            "health_path": "/healthz",
            "variables": {"APP_ENV": "staging"},
            "digest": "sha256:" + "ab" * 32,
            "version": "1.7.0",
            "bundle": bundle,
            "python": sys.executable,
            "evidence_dir": evidence,
            "root": tmp_path,
            "home": tmp_path / ".stageline",
            "deployed_at": None,
            "deadline": time.monotonic() + 60,
            "log": lambda line: None,
        }
        views = overrides.pop("views", None)
        if views is None:
            env = overrides.get("environment", environment)
            pipeline = Pipeline.model_validate(
                {"source": "stageline.toml", "service": {"name": "shop", "start": "true"},
                 "environments": [env]}
            )  # fmt: skip
            home = overrides.get("home", values["home"])
            views = GateViews(pipeline, Nowhere(), HostTargets(home, pipeline))
        values.update(pipeline=views.pipeline, store=views.store, targets=views.targets)
        values.update(overrides)
        return GateContext(**values)

    return make


def ago(**delta: float) -> datetime:
    from datetime import UTC, timedelta

    return datetime.now(UTC) - timedelta(**delta)
