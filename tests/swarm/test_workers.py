"""A swarm release's workers held to ``local``'s rule (``targets/swarm/workers.py``), through
a fake of the target's engine-facing parts: the tasks each service lists are scripted
rows, as ``docker service ps`` gives them. The real engine runs this in
``test_shapes.py`` (a worker that cannot start fails the deploy; status lists it)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stageline.errors import DeployFailed
from stageline.targets.swarm import plan, watch, workers
from stageline.targets.swarm.state import Placed, SwarmState, load, save

RUNNING = {"CurrentState": "Running 9 seconds ago", "DesiredState": "Running"}
EXITED = {"CurrentState": "Failed 1 second ago", "DesiredState": "Shutdown",
          "Error": "task: non-zero exit (1)"}  # fmt: skip


class Front:
    def __init__(self) -> None:
        self.routed: list[str] = []

    def route(self, digest: str, addresses: object) -> None:
        self.routed.append(digest)

    def drain(self, ports: object, timeout: float) -> None:
        pass

    def pid(self) -> int:
        return 1


class Target:
    """What ``watch.py`` and ``workers.py`` ask of a ``SwarmTarget``; tasks scripted."""

    def __init__(self, folder: Path, tasks: dict[str, list[dict[str, str]]]) -> None:
        self.folder, self.tasks = folder, tasks
        self.removed: list[str] = []
        self.front = Front()
        self.env = SimpleNamespace(
            name="staging", watch_check_timeout=1, watch_failures=1000, drain_timeout=0
        )

    def _tasks(self, service: str) -> list[plan.Task]:
        rows = self.tasks.get(service, [])
        return [plan.Task.from_row({"Name": f"{service}.1", **row}) for row in rows]

    def _nodes(self) -> list[plan.Node]:
        return []

    def where(self, placed: Placed) -> Any:
        return placed.addresses

    def _remove(self, placed: Placed) -> None:
        self.removed.append(placed.service)

    def _log_tail(self, service: str) -> str:
        return f"Error 111 connecting to redis ({service})"


def release(name: str) -> Placed:
    return Placed(name, f"sha256:{name}", "img", (21001,), workers=(f"{name}-worker",),
                  processes=("worker",))  # fmt: skip


def in_the_window(tmp_path: Path, tasks: dict[str, list[dict[str, str]]]) -> Target:
    target = Target(tmp_path, tasks)
    state = SwarmState(
        serving=release("new"), previous=release("old"), watch_until=time.time() + 60
    )
    save(tmp_path, state)
    return target


def test_a_worker_that_exits_in_the_watch_window_switches_back(tmp_path: Path) -> None:
    target = in_the_window(tmp_path, {"new": [RUNNING], "new-worker": [RUNNING, EXITED]})
    outcome = watch.wait(target, timeout=5)  # type: ignore[arg-type]
    assert outcome is not None and outcome.status == "rolled_back"
    assert outcome.reason == (
        "a worker process of the new release exited during the watch window: "
        "task: non-zero exit (1)"
    )
    assert target.front.routed == ["sha256:old"] and target.removed == ["new"]
    assert load(tmp_path).serving == release("old")


def test_a_worker_that_keeps_running_leaves_the_window_open(tmp_path: Path) -> None:
    target = in_the_window(tmp_path, {"new": [RUNNING], "new-worker": [RUNNING]})
    outcome = watch.wait(target, timeout=0.6)  # type: ignore[arg-type]
    assert outcome is not None and not outcome.settled  # still watching, nothing switched
    assert target.front.routed == [] and load(tmp_path).serving == release("new")


def test_a_new_worker_that_exited_fails_the_deploy_with_its_log(tmp_path: Path) -> None:
    target = Target(tmp_path, {"new-worker": [RUNNING, EXITED]})
    with pytest.raises(DeployFailed, match="worker process did not start") as failed:
        workers.started(target, release("new"), {}, "v2")  # type: ignore[arg-type]
    assert "task: non-zero exit (1)" in str(failed.value)
    assert failed.value.log_tail == "Error 111 connecting to redis (new-worker)"
    assert "the previous release keeps serving" in (failed.value.hint or "")


def test_a_new_worker_starts_after_the_settle_time_or_is_late(tmp_path: Path) -> None:
    target = Target(tmp_path, {"new-worker": [RUNNING]})
    seen: dict[str, float] = {}
    assert not workers.started(target, release("new"), seen, "v2")  # type: ignore[arg-type]
    assert set(seen) == {"new-worker"}
    with pytest.raises(DeployFailed, match="its task did not run in time"):
        workers.late(target, release("new"), seen, "v2")  # type: ignore[arg-type]
    seen["new-worker"] -= workers.SETTLE  # as if first seen running that long ago
    assert workers.started(target, release("new"), seen, "v2")  # type: ignore[arg-type]
    workers.late(target, release("new"), seen, "v2")  # type: ignore[arg-type]  # all started
    assert workers.processes(target, release("new")) == (  # type: ignore[arg-type]
        plan.worker_process("worker", target._tasks("new-worker")),
    )
