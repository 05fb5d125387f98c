"""A release's other process types on swarm (``[service.processes] worker = ...``).

Each is a Swarm service of one task beside the release's web service
(``plan.worker_name``), with no health check, held to ``local``'s rule for workers
(``agent/supervisor.py``'s ``worker_settle``, ``agent/switch.py``):

- before the switch, each must have its task running for ``worker_settle`` seconds, as
  long as the web tasks are given; a task of it that ends (its command exited, or the
  engine could not start it) fails the deploy at once, with that worker's log tail: the
  new release never takes traffic and its services are removed;
- during the watch window, a task of one that ends switches the previous release back in
  (``watch.py``);
- ``status`` shows each as a process of its type (``plan.worker_process``).

The decisions are ``plan.py``'s; this module only asks the engine.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from stageline.agent.supervisor import SupervisionPolicy
from stageline.errors import DeployFailed
from stageline.targets.base import ProcessInfo
from stageline.targets.swarm import plan
from stageline.targets.swarm.state import Placed

if TYPE_CHECKING:
    from stageline.targets.swarm.target import SwarmTarget

#: a worker that ran this long has started (``local``'s default, the same rule)
SETTLE = SupervisionPolicy().worker_settle


def processes(target: SwarmTarget, placed: Placed) -> tuple[ProcessInfo, ...]:
    """Each worker of ``placed`` as a process of its type, from its service's tasks."""
    return tuple(
        plan.worker_process(kind, target._tasks(service)) for kind, service in placed.worker_types
    )


def started(target: SwarmTarget, placed: Placed, seen: dict[str, float], version: str) -> bool:
    """One look at ``placed``'s new workers before the switch: True once each has started
    (``plan.worker_start``). DeployFailed, with that worker's log tail, as soon as a task of
    one ended. ``seen``: when each was first seen running, kept between looks."""
    now, done = time.monotonic(), True
    for kind, service in placed.worker_types:
        found = plan.worker_start(target._tasks(service), seen.get(service), now, SETTLE)
        if found.problem:
            raise _failed(target, kind, service, version, found.problem)
        if found.since is None:
            seen.pop(service, None)
        else:
            seen[service] = found.since
        done = done and found.started
    return done


def late(target: SwarmTarget, placed: Placed, seen: dict[str, float], version: str) -> None:
    """The wait is over: DeployFailed naming the first worker that has not started (its
    task not running ``SETTLE`` seconds yet); nothing if all have."""
    now = time.monotonic()
    for kind, service in placed.worker_types:
        if now - seen.get(service, now) < SETTLE:
            raise _failed(target, kind, service, version, "its task did not run in time")


def failure(target: SwarmTarget, placed: Placed) -> str | None:
    """During the watch window: why a worker of the serving release failed (a task of it
    ended), or None."""
    for kind, service in placed.worker_types:
        why = plan.why_ended(target._tasks(service))
        if why is not None:
            return f"a {kind} process of the new release exited during the watch window: {why}"
    return None


def _failed(target: SwarmTarget, kind: str, service: str, version: str, why: str) -> DeployFailed:
    env = target.env.name
    return DeployFailed(
        env,
        f"{version}'s {kind} process did not start in {env} on swarm: {why}; "
        "the release never took traffic",
        log_tail=target._log_tail(service),
        hint=f"its last log lines are in the deployment's record (`stageline history {env} "
        f"--json`); check [service.processes] {kind}"
        + ("; the previous release keeps serving" if target.front.pid() else ""),
    )
