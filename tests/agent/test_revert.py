"""The ``revert`` order: a failed after-deploy check switches the previous release back
while the watch window is open, as a crash does (real agent, processes, HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.errors import AgentError
from stageline.state import Store

from .helpers import ReleaseFactory, free_port, wait_for
from .test_switch import deployment, fetch, pids_of, status_of, store

pytestmark = pytest.mark.slow
__all__ = ["store"]  # the fixture, used by name

REASON = "after-deploy check `smoke` failed: GET /orders: expected status 201, got 500"


def test_revert_switches_the_previous_release_back_and_records_the_reason(
    client: AgentClient, make_release: ReleaseFactory, home: Path, store: Store
) -> None:
    port = free_port()
    first = deployment(store, "sha256:r1")
    client.switch(make_release(public_port=port, processes=2), deployment=first)
    store.finish_deployment(first.id, "succeeded")
    second = deployment(store, "sha256:r2")
    client.switch(make_release("sha256:r2", public_port=port, watch=60), deployment=second)
    assert fetch(port)["version"] == "sha256:r2"

    described = client.revert("staging", REASON, timeout=30)

    assert described["serving"] == "sha256:r1" and len(described["processes"]) == 2
    assert described["outcome"]["status"] == "rolled_back"
    assert described["outcome"]["reason"] == REASON and described["watching_for"] == 0
    assert fetch(port)["version"] == "sha256:r1"
    assert status_of(store, second) == ("rolled_back", REASON)
    assert client.outcome("staging", timeout=5)["settled"]
    wait_for(lambda: not pids_of(home, "sha256:r2"), "the reverted release to stop")
    newest_first = store.events("staging")
    noted = [(e.kind, e.data) for e in reversed(newest_first) if e.kind.startswith("switch_back")]
    assert noted == [
        ("switch_back.started", {"deployment": second.id, "reason": REASON, "to": "sha256:r1"}),
        ("switch_back.done", {"deployment": second.id, "reason": REASON, "to": "sha256:r1"}),
    ]
    with pytest.raises(AgentError, match="watch window has closed"):
        client.revert("staging", REASON, timeout=30)  # nothing left to switch back to
    assert fetch(port)["version"] == "sha256:r1"


def test_revert_after_the_window_or_without_an_earlier_release_changes_nothing(
    client: AgentClient, make_release: ReleaseFactory, store: Store
) -> None:
    port = free_port()
    first = deployment(store, "sha256:r1")
    client.switch(make_release(public_port=port, watch=60), deployment=first)
    with pytest.raises(AgentError, match="no earlier release to switch back to"):
        client.revert("staging", REASON, timeout=30)
    assert fetch(port)["version"] == "sha256:r1"
    assert client.proxied()["staging"]["watching_for"] > 50  # still watched

    second = deployment(store, "sha256:r2")
    client.switch(make_release("sha256:r2", public_port=port, watch=1), deployment=second)
    assert client.outcome("staging", timeout=30)["outcome"]["status"] == "succeeded"
    with pytest.raises(AgentError, match="watch window has closed"):
        client.revert("staging", REASON, timeout=30)
    assert fetch(port)["version"] == "sha256:r2"
    assert status_of(store, second)[0] == "succeeded"
    with pytest.raises(AgentError, match="not served through the agent's proxy"):
        client.revert("production", REASON, timeout=30)


def test_a_switch_back_that_fails_keeps_the_new_release_and_says_so(
    client: AgentClient, make_release: ReleaseFactory, store: Store, home: Path
) -> None:
    port = free_port()
    once = home / "started-once"
    first = deployment(store, "sha256:r1")
    client.switch(make_release(public_port=port, APP_START_ONCE=str(once)), deployment=first)
    store.finish_deployment(first.id, "succeeded")
    second = deployment(store, "sha256:r2")
    client.switch(make_release("sha256:r2", public_port=port, watch=60), deployment=second)

    described = client.revert("staging", REASON, timeout=30)

    assert described["serving"] == "sha256:r2" and fetch(port)["version"] == "sha256:r2"
    outcome = described["outcome"]
    assert outcome["status"] == "succeeded"
    assert outcome["reason"].startswith(REASON + "; switching back failed (")
    assert outcome["reason"].endswith("the new release keeps serving")
    status, detail = status_of(store, second)
    assert status == "succeeded" and "switching back failed" in detail
    kinds = [e.kind for e in reversed(store.events("staging")) if e.kind.startswith("switch_")]
    assert kinds == ["switch_back.started", "switch_back.failed"]
