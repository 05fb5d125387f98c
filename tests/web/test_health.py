"""The dashboard's health cache: every environment checked at once, never while rendering
once something is cached, and a real check of a real HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.model import Environment, Pipeline
from stageline.web.health import HealthCache, check_environment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    return load_pipeline(EXAMPLE)


def test_every_environment_is_checked_at_the_same_time(pipe: Pipeline) -> None:
    envs = list(pipe.environments)
    # each check waits until all of them run: a one-by-one round would break the barrier
    barrier = threading.Barrier(len(envs), timeout=10)

    def check(env: Environment) -> str:
        barrier.wait()
        return "down" if env.name == "test" else "healthy"

    found = HealthCache().refresh(envs, check)
    assert found == {e.name: ("down" if e.name == "test" else "healthy") for e in envs}


def test_what_is_cached_is_answered_without_checking_again(pipe: Pipeline) -> None:
    envs = list(pipe.environments)
    calls: list[str] = []
    cache = HealthCache(max_age=3600)

    def check(env: Environment) -> str:
        calls.append(env.name)
        return "healthy"

    assert cache.get(envs, check) == dict.fromkeys((e.name for e in envs), "healthy")
    assert sorted(calls) == sorted(e.name for e in envs)
    assert cache.get(envs, lambda env: "down") == dict.fromkeys(calls, "healthy")
    assert len(calls) == len(envs)


def test_a_stale_cache_answers_at_once_and_refreshes_behind(pipe: Pipeline) -> None:
    envs = list(pipe.environments)
    cache = HealthCache(max_age=0)
    cache.refresh(envs, lambda env: "healthy")
    release, refreshed = threading.Event(), threading.Event()

    def slow(env: Environment) -> str:
        release.wait(10)
        refreshed.set()
        return "down"

    assert set(cache.get(envs, slow).values()) == {"healthy"}  # not waiting for `slow`
    release.set()
    assert refreshed.wait(10)
    for _ in range(100):
        if set(cache.values().values()) == {"down"}:
            break
        threading.Event().wait(0.05)
    assert set(cache.values().values()) == {"down"}


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_nothing_under_the_agent_is_down_whatever_answers_on_its_port(
    pipe: Pipeline, server: int, tmp_path: Path
) -> None:
    env = pipe.environment("staging").model_copy(
        update={"target": pipe.environment("staging").target.model_copy(update={"port": server})}
    )
    # no agent runs in this (empty) home: the environment is down, not "healthy"
    assert check_environment(tmp_path / ".stageline", pipe, env, 0.5) == "down"
