"""Blue/green through the agent's proxy: real agent, real service processes, real HTTP."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from stageline.agent.client import AgentClient
from stageline.agent.release import DeploymentRef
from stageline.agent.state import AgentPaths, load_proxied, load_running
from stageline.errors import AgentError
from stageline.host.procfs import is_alive
from stageline.state import ArtifactRecord, Store

from .helpers import Reaper, ReleaseFactory, free_port, wait_for

pytestmark = pytest.mark.slow


def fetch(port: int, path: str = "/", client: httpx.Client | None = None) -> dict[str, Any]:
    http = client or httpx.Client(trust_env=False, timeout=10)
    try:
        response = http.get(f"http://127.0.0.1:{port}{path}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data
    finally:
        if client is None:
            http.close()


def pids_of(home: Path, release: str) -> set[int]:
    return {e.pid for e in load_running(AgentPaths(home)).values() if e.release == release}


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    home.mkdir(parents=True, exist_ok=True)
    with Store.open(f"sqlite:///{home / 'state.db'}") as store:
        now = datetime.now(UTC)
        for digest in ("sha256:r1", "sha256:r2"):
            store.add_artifact(
                ArtifactRecord(
                    digest, "app", digest[-2:], None, "x", "c", now, now, "t", "h", 1, "p"
                )
            )
        yield store


def deployment(store: Store, digest: str) -> DeploymentRef:
    record = store.start_deployment("staging", digest, actor="t", kind="deploy")
    return DeploymentRef(store.url, record.id, digest)


def status_of(store: Store, ref: DeploymentRef) -> tuple[str, str]:
    record = next(d for d in store.deployments("staging") if d.id == ref.id)
    return record.status, record.detail


def test_requests_round_robin_stream_and_carry_the_client_address(
    client: AgentClient, make_release: ReleaseFactory
) -> None:
    port = free_port()
    described = client.switch(make_release(public_port=port, processes=2))
    assert described["serving"] == "sha256:r1" and len(described["processes"]) == 2
    internal = {p["port"] for p in described["processes"]}
    assert port not in internal
    with httpx.Client(trust_env=False, timeout=10) as http:
        pids = [fetch(port, "/x", http)["pid"] for _ in range(4)]
        assert len(set(pids)) == 2 and pids[0] == pids[2] and pids[1] == pids[3]
        headers = http.get(
            f"http://127.0.0.1:{port}/headers",
            headers={"X-Forwarded-For": "10.0.0.7", "Connection": "keep-alive"},
        ).json()
        stream = http.get(f"http://127.0.0.1:{port}/stream")
        body = os.urandom(300_000)
        echoed = http.post(f"http://127.0.0.1:{port}/echo", content=body)
    assert headers["x-forwarded-for"] == "10.0.0.7, 127.0.0.1"
    assert headers["forwarded"] == "for=127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["host"] == f"127.0.0.1:{port}"
    assert stream.headers["transfer-encoding"] == "chunked"
    assert stream.text == "".join(f"chunk {i}\n" for i in range(5))
    assert echoed.content == body
    status = client.status()["staging"]
    assert (status.port, status.release, status.healthy) == (port, "sha256:r1", True)


def test_a_keep_alive_connection_moves_to_the_new_release_and_the_old_one_stops(
    client: AgentClient, make_release: ReleaseFactory, home: Path
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    old = pids_of(home, "sha256:r1")
    with httpx.Client(trust_env=False, timeout=10) as http:
        assert fetch(port, "/", http)["version"] == "sha256:r1"
        client.switch(make_release("sha256:r2", public_port=port))
        assert fetch(port, "/", http)["version"] == "sha256:r2"  # same connection
    wait_for(lambda: not any(is_alive(pid) for pid in old), "the old release to stop")
    state = load_proxied(AgentPaths(home))["staging"]
    assert state.serving is not None and state.serving.spec.release == "sha256:r2"


def test_a_release_that_fails_health_never_receives_a_request(
    client: AgentClient, make_release: ReleaseFactory, home: Path
) -> None:
    port = free_port()
    good_log, bad_log = home / "good.requests", home / "bad.requests"
    client.switch(make_release(public_port=port, processes=2, APP_REQUEST_LOG=str(good_log)))
    answers: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(trust_env=False, timeout=10) as http:
            while not stop.is_set():
                answers.append(fetch(port, "/load", http)["version"])

    loader = threading.Thread(target=load)
    loader.start()
    try:
        bad = make_release(
            "sha256:r2",
            public_port=port,
            processes=2,
            health_timeout=2,
            APP_HEALTH_STATUS="503",
            APP_REQUEST_LOG=str(bad_log),
        )
        with pytest.raises(AgentError, match="health check did not pass within 2s"):
            client.switch(bad)
        wait_for(lambda: len(answers) > 20, "some load after the failed switch")
    finally:
        stop.set()
        loader.join()
    assert not bad_log.exists()
    assert set(answers) == {"sha256:r1"}
    assert len(good_log.read_text().splitlines()) == len(answers)
    assert pids_of(home, "sha256:r2") == set()
    assert client.proxied()["staging"]["serving"] == "sha256:r1"


def test_a_slow_request_in_flight_during_a_switch_completes(
    client: AgentClient, make_release: ReleaseFactory, home: Path
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    old = pids_of(home, "sha256:r1")
    slow: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: slow.update(fetch(port, "/slow?seconds=2")))
    thread.start()
    wait_for(lambda: client.proxied()["staging"]["requests"] >= 1, "the slow request to start")
    client.switch(make_release("sha256:r2", public_port=port))
    assert fetch(port)["version"] == "sha256:r2"
    assert all(is_alive(pid) for pid in old)  # draining
    thread.join(timeout=20)
    assert slow["version"] == "sha256:r1"
    wait_for(lambda: not any(is_alive(pid) for pid in old), "the drained release to stop")


def test_a_release_that_crashes_10s_after_the_switch_is_rolled_back(
    client: AgentClient, make_release: ReleaseFactory, home: Path, store: Store
) -> None:
    port = free_port()
    first = deployment(store, "sha256:r1")
    client.switch(make_release(public_port=port, processes=2), deployment=first)
    store.finish_deployment(first.id, "succeeded")
    second = deployment(store, "sha256:r2")
    crashing = make_release(
        "sha256:r2", public_port=port, processes=2, watch=30, APP_EXIT_AFTER="10"
    )
    assert client.switch(crashing, deployment=second)["watching_for"] > 25
    store.finish_deployment(second.id, "succeeded")  # what the command does at the switch
    assert fetch(port)["version"] == "sha256:r2"
    settled = client.outcome("staging", timeout=60)
    assert settled["settled"] and settled["serving"] == "sha256:r1"
    assert settled["outcome"]["status"] == "rolled_back"
    status, detail = status_of(store, second)
    assert status == "rolled_back" and "exited (code 7) during the watch window" in detail
    assert store.current_deployment("staging").digest == "sha256:r1"  # type: ignore[union-attr]
    assert fetch(port)["version"] == "sha256:r1"
    assert pids_of(home, "sha256:r2") == set()
    events = [e.kind for e in store.events("staging")]
    assert "deploy.rolled_back" in events


def test_a_healthy_release_outlasts_its_watch_window(
    client: AgentClient, make_release: ReleaseFactory, store: Store
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    ref = deployment(store, "sha256:r2")
    client.switch(make_release("sha256:r2", public_port=port, watch=1), deployment=ref)
    settled = client.outcome("staging", timeout=30)
    assert settled["outcome"]["status"] == "succeeded" and settled["serving"] == "sha256:r2"
    assert status_of(store, ref)[0] == "succeeded"  # recorded even though no command did


@pytest.mark.parametrize(
    ("point", "serves"),
    [
        ("after-start", "sha256:r1"),
        ("after-switch", "sha256:r2"),
        ("during-drain", "sha256:r2"),
        ("during-watch", "sha256:r2"),
    ],
)
def test_sigkill_during_a_switch_leaves_one_release_and_a_settled_deployment(
    point: str,
    serves: str,
    home: Path,
    reaper: Reaper,
    make_release: ReleaseFactory,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = AgentClient(home)
    client.ensure_running()
    reaper.track(client.agent_pid())
    port = free_port()
    client.switch(make_release(public_port=port, processes=2))
    first_pid = client.agent_pid()
    assert first_pid is not None
    os.kill(first_pid, signal.SIGTERM)  # services keep running; the next agent has the fault
    wait_for(lambda: not is_alive(first_pid), "the agent to exit")
    monkeypatch.setenv("STAGELINE_AGENT_FAULT", point)
    client.ensure_running()
    doomed = client.agent_pid()
    reaper.track(doomed)
    assert doomed is not None
    ref = deployment(store, "sha256:r2")
    new = make_release("sha256:r2", public_port=port, processes=2, watch=3)
    try:
        client.switch(new, deployment=ref)
    except AgentError as exc:  # the agent died before it could answer
        assert "gave no valid answer" in str(exc) or "cannot talk" in str(exc), exc
    wait_for(lambda: not is_alive(doomed), "the agent to die")
    running = load_running(AgentPaths(home))
    for entry in running.values():
        reaper.track(entry.pid)
    other = "sha256:r1" if serves == "sha256:r2" else "sha256:r2"

    client.ensure_running()  # the next command brings the agent back
    reaper.track(client.agent_pid())
    assert {fetch(port)["version"] for _ in range(6)} == {serves}
    assert client.proxied()["staging"]["serving"] == serves
    wait_for(lambda: pids_of(home, other) == set(), "the other release to be gone")
    assert not any(is_alive(e.pid) for e in running.values() if e.release == other)
    assert len(pids_of(home, serves)) == 2
    client.outcome("staging", timeout=30)
    status, detail = status_of(store, ref)
    assert status == ("failed" if serves == "sha256:r1" else "succeeded"), detail
