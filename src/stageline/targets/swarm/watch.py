"""The watch window of a swarm environment, and switching back.

After a switch the previous release's service keeps running until the window ends
(``watch``). Meanwhile the new release is watched: a task that fails (more than had
failed before the switch), a task of one of its workers that ends (``workers.py``: as on
``local``, any exit of a worker), or ``watch_failures`` failed health checks in a row,
each asked of every task at its node's address and slot port, switch the previous
release back in: the front routes to the previous release's tasks again (one reload), the new
release is drained and removed, and the deployment is recorded ``rolled_back``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from stageline.agent.record import settle_at
from stageline.agent.release import Address
from stageline.targets.base import SwitchBack, WatchOutcome
from stageline.targets.swarm import plan, workers
from stageline.targets.swarm.state import SwarmState, load, save

if TYPE_CHECKING:
    from stageline.targets.swarm.target import SwarmTarget

POLL = 0.5


def task_url(address: Address, path: str) -> str:
    """``http://host:port/path`` of a task (an IPv6 host in brackets)."""
    host, port = address
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


def answers(url: str, timeout: float) -> bool:
    """True if ``url`` answers 200 within ``timeout`` seconds."""
    try:
        return httpx.get(url, timeout=timeout, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def wait(target: SwarmTarget, timeout: float) -> WatchOutcome | None:
    """Watch the serving release until the window ends (or ``timeout``): see the module
    docstring."""
    state = load(target.folder)
    if state.serving is None:
        return None
    if state.watch_until is None or state.previous is None:
        outcome = state.outcome or {"status": "succeeded", "reason": ""}
        return WatchOutcome(True, outcome["status"], outcome["reason"], state.serving.digest)
    deadline = min(state.watch_until, time.time() + timeout)
    failed_checks = 0
    known = int((state.deployment or {}).get("failures", 0))
    serving, env = state.serving, target.env
    nodes = target._nodes()
    while time.time() < deadline:
        tasks = target._tasks(serving.service)
        crashed = plan.failures(tasks)
        if len(crashed) > known:
            why = crashed[-1].error
            reason = f"a task of the new release failed during the watch window: {why}"
            return switch_to_previous(target, state, reason)
        worker = workers.failure(target, serving)
        if worker is not None:
            return switch_to_previous(target, state, worker)
        reached = plan.task_addresses(tasks, nodes, serving.ports)
        ok = len(reached) == len(serving.ports) and all(
            answers(task_url(a, serving.health), float(env.watch_check_timeout))
            for a in reached.values()
        )
        failed_checks = 0 if ok else failed_checks + 1
        if failed_checks >= env.watch_failures:
            reason = f"the new release failed {failed_checks} health checks in a row"
            return switch_to_previous(target, state, reason)
        time.sleep(POLL)
    if time.time() < state.watch_until:
        return WatchOutcome(False, "", "", serving.digest)
    state = target._retire_expired(state)
    return WatchOutcome(True, "succeeded", "", state.serving.digest if state.serving else "")


def switch_back(target: SwarmTarget, reason: str) -> SwitchBack:
    """A person's (or a gate's) order to switch the previous release back in."""
    state = load(target.folder)
    if state.previous is None or state.watch_until is None:
        return SwitchBack(False, f"{target.env.name} has no earlier release still running")
    if time.time() > state.watch_until:
        return SwitchBack(False, "the watch window closed")
    outcome = switch_to_previous(target, state, reason)
    return SwitchBack(outcome.status == "rolled_back", outcome.reason)


def switch_to_previous(target: SwarmTarget, state: SwarmState, reason: str) -> WatchOutcome:
    """Route the previous release's tasks again, remove the new one, record it."""
    assert state.previous is not None and state.serving is not None
    previous, failed = state.previous, state.serving
    target.front.route(previous.digest, target.where(previous))
    save(target.folder, state.with_(
        serving=previous, previous=None, watch_until=None,
        outcome={"status": "rolled_back", "reason": reason},
    ))  # fmt: skip
    target.front.drain(failed.ports, float(target.env.drain_timeout))
    target._remove(failed)
    ref = state.deployment
    if ref is not None:
        settle_at(ref["store"], target.env.name, ref["id"], "rolled_back", reason)
    return WatchOutcome(True, "rolled_back", reason, previous.digest)
