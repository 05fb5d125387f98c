"""Pure decisions of the ``swarm`` target: names, ports, the service's arguments, and
what the engine's tasks say about a release. No I/O here.

Ports: containers use the host's network (no container network, no routing mesh), so
two tasks cannot share a port. Each release of an environment is a Swarm service of its
own, given a **port block**: task slot N (``{{.Task.Slot}}``, 1..replicas) listens on
``base + N``. The environment's public port belongs to stageline's front, which forwards
to the serving release's block; a new release gets another block, so both run side by
side until the switch (blue/green), and the previous one stays up for the watch window.

Addresses: a task listens on the target's ``listen`` address of the node it runs on
(``{host}`` in the start command); the front and stageline's own health checks reach it
at **its node's address** (the address the node has in the swarm, ``docker node
inspect``'s ``Status.Addr``) and its slot's port: :func:`task_addresses`.
:func:`listen_problem` refuses, before anything is created, a ``listen`` address the
front could not reach or one that would put a task on a public address.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from stageline.agent.release import HOST_PLACEHOLDER, Address
from stageline.targets.base import ProcessInfo, ServiceState

LABEL = "org.stageline"
#: where port blocks are taken from (below Linux's default ephemeral range)
BLOCK_RANGE = (20000, 32000)
HEALTH_CMD = "/stageline/venv/bin/python /stageline/launch.py health"
#: names the variables the launcher reads from secret files (``/run/secrets/NAME``)
SECRETS_VAR = "STAGELINE_SECRET_FILES"
#: variables the launcher sets itself, per task
OWN_VARIABLES = ("PORT", "STAGELINE_PORT_BASE", "STAGELINE_SLOT", "STAGELINE_LISTEN")
#: ``listen`` values that bind every interface of a node
WILDCARDS = ("0.0.0.0", "::")
#: where a container writes the environment's outbox (``STAGELINE_OUTBOX``): the host's
#: ``envs/<env>/outbox.jsonl``, bind-mounted, so the side-effects gate and ``stageline
#: outbox`` read what tasks and one-off commands recorded
OUTBOX = "/run/stageline-outbox.jsonl"


def slug(text: str) -> str:
    """``text`` as a Docker object name part: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "x"


def service_name(service: str, environment: str, digest: str, nonce: str) -> str:
    """One release's Swarm service, e.g. ``shop-staging-3fa2b1c4d5e6-k2j9``."""
    return f"{slug(service)}-{slug(environment)}-{digest.removeprefix('sha256:')[:12]}-{nonce}"


def worker_name(service_name: str, process: str) -> str:
    """The Swarm service of one of a release's other process types (``[service.processes]``),
    e.g. ``shop-staging-3fa2b1c4d5e6-k2j9-worker``: one replica, beside its web service."""
    return f"{service_name}-{slug(process)}"


def secret_name(service_name: str, variable: str) -> str:
    """The Swarm secret holding ``variable`` for one release's service (created with it,
    removed with it; the name says nothing of the value)."""
    return f"{service_name}-{slug(variable)}"


def has_password(value: str) -> bool:
    """True if ``value`` is a URL with a password (``scheme://user:password@host``)."""
    return re.match(r"^[a-z][a-z0-9+.-]*://[^/@:]*:[^/@]+@", value) is not None


def password_of(url: str) -> str:
    """The password of a URL with one (:func:`has_password`), decoded; else ""."""
    found = re.match(r"^[a-z][a-z0-9+.-]*://[^/@:]*:([^/@]+)@", url)
    return unquote(found[1]) if found else ""


def outbox_args(source: str | None, variables: Mapping[str, str]) -> list[str]:
    """``docker service create`` / ``docker run`` options giving a container the
    environment's outbox: the host's file ``source`` bind-mounted at :data:`OUTBOX` and
    ``STAGELINE_OUTBOX`` naming it. None (``[]``) without a ``source``, or when the
    environment's variables choose the destination themselves (``STAGELINE_OUTBOX``, e.g.
    a ``postgresql://`` URL: nothing to mount)."""
    if source is None or "STAGELINE_OUTBOX" in variables:
        return []
    mount = f"type=bind,source={source},target={OUTBOX}"
    return ["--mount", mount, "--env", f"STAGELINE_OUTBOX={OUTBOX}"]


def ports_of(base: int, replicas: int) -> tuple[int, ...]:
    return tuple(base + slot for slot in range(1, replicas + 1))


def choose_base(
    replicas: int,
    taken: Collection[int],
    is_free: Callable[[int], bool],
    start: int,
    span: tuple[int, int] = BLOCK_RANGE,
) -> int:
    """A block base whose ``replicas`` ports are neither ``taken`` (by other releases'
    blocks) nor in use, searched from ``start`` (a number from the environment's name, so
    environments rarely probe the same ports) in steps of the block size."""
    low, high = span
    size = replicas + 1
    count = (high - low) // size
    first = (start % count) if count else 0
    for step in range(count):
        base = low + ((first + step) % count) * size
        ports = ports_of(base, replicas)
        if not set(ports) & set(taken) and all(is_free(port) for port in ports):
            return base
    raise ValueError(f"no {replicas} free ports in a row between {low} and {high}")


@dataclass(frozen=True)
class Limits:
    cpus: float | None = None
    memory_mb: int | None = None


def create_args(
    name: str,
    image: str,
    *,
    environment: str,
    digest: str,
    base: int,
    listen: str = "127.0.0.1",
    replicas: int,
    variables: Mapping[str, str],
    secrets: Sequence[str],
    limits: Limits,
    health_timeout: float,
    stop_grace: float,
    resolve_image: bool,
    command: Sequence[str] = ("web",),
    release: str = "",
    outbox: str | None = None,
) -> list[str]:
    """``docker service create`` arguments of one release's web service (``command``
    ``("web",)``) or of one of its workers (``("worker", TYPE)``): host network, the port
    block, plain variables as ``--env`` and each secret variable as a Swarm secret
    (``secrets``: variable names; the file ``/run/secrets/NAME``), never a value in the
    spec; the host's ``outbox`` file mounted (:func:`outbox_args`); Swarm's health check
    is the service's health route (a worker has none). The secrets are those made for
    ``release`` (the release's web service; default ``name``): a worker mounts its
    release's secrets, it has none of its own."""
    args = ["service", "create", "--detach", "--name", name, "--network", "host"]
    args += ["--replicas", str(replicas), "--restart-condition", "any", "--restart-delay", "1s"]
    for key, value in (("environment", environment), ("artifact", digest), ("port-base", base)):
        args += ["--label", f"{LABEL}.{key}={value}", "--container-label", f"{LABEL}.{key}={value}"]
    hidden = set(secrets) | set(OWN_VARIABLES)
    for key, value in sorted(variables.items()):
        if key not in hidden:
            args += ["--env", f"{key}={value}"]
    args += ["--env", f"STAGELINE_PORT_BASE={base}", "--env", "STAGELINE_SLOT={{.Task.Slot}}"]
    args += ["--env", f"STAGELINE_LISTEN={listen}"]
    args += ["--env", f"{SECRETS_VAR}={','.join(sorted(secrets))}"]
    args += outbox_args(outbox, variables)
    for variable in sorted(secrets):
        source = secret_name(release or name, variable)
        args += ["--secret", f"source={source},target={variable},mode=0400"]
    if command[0] == "web":
        args += ["--health-cmd", HEALTH_CMD, "--health-interval", "2s", "--health-timeout", "5s"]
        args += ["--health-retries", "3", "--health-start-period", f"{int(health_timeout)}s"]
    else:  # a worker: well while it runs
        args += ["--no-healthcheck"]
    args += ["--stop-grace-period", f"{int(stop_grace)}s"]
    if limits.cpus:
        args += ["--limit-cpu", f"{limits.cpus:g}"]
    if limits.memory_mb:
        args += ["--limit-memory", f"{limits.memory_mb}m"]
    if not resolve_image:
        args.append("--no-resolve-image")
    return [*args, image, *command]


# -- what the engine says ------------------------------------------------------------------

#: a task's state (``docker service ps``'s ``CurrentState``, first word, lower-cased) as a
#: process state
TASK_STATES: dict[str, ServiceState] = {
    "new": "starting", "pending": "starting", "assigned": "starting", "accepted": "starting",
    "preparing": "starting", "ready": "starting", "starting": "starting",
    "running": "running",
    "complete": "stopped", "shutdown": "stopped", "remove": "stopped", "orphaned": "stopped",
    "failed": "crashed", "rejected": "crashed",
}  # fmt: skip
#: states in which a task's command ended by itself (it exited, or the engine could not
#: start it): Swarm starts another task in its place
ENDED = ("complete", "failed", "rejected")


@dataclass(frozen=True)
class Task:
    """One task of a release's service, as ``docker service ps --no-resolve`` lists it."""

    slot: int
    state: ServiceState
    desired: str  # "running" or "shutdown"
    error: str
    node: str = ""  # the node's id (its hostname without --no-resolve)
    ended: bool = False  # its command ended by itself (:data:`ENDED`)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Task:
        name = str(row.get("Name", ""))
        slot = name.rsplit(".", 1)[-1].lstrip("\\_ ")
        word = str(row.get("CurrentState", "")).split(" ", 1)[0].lower()
        return cls(
            slot=int(slot) if slot.isdigit() else 0,
            state=TASK_STATES.get(word, "starting"),
            desired=str(row.get("DesiredState", "")).lower(),
            error=str(row.get("Error", "")),
            node=str(row.get("Node", "")),
            ended=word in ENDED,
        )


def current(tasks: Iterable[Task]) -> dict[int, Task]:
    """The task each slot runs now (the one desired running), by slot."""
    return {t.slot: t for t in tasks if t.desired == "running"}


def failures(tasks: Iterable[Task]) -> list[Task]:
    """Tasks that ended in failure (Swarm replaces them: a restart)."""
    return [t for t in tasks if t.state == "crashed"]


def ready(tasks: Iterable[Task], replicas: int) -> bool:
    """Every slot 1..replicas has a running task (a task with a health check is only
    ``running`` once the check passed)."""
    now = current(tasks)
    return all(slot in now and now[slot].state == "running" for slot in range(1, replicas + 1))


def overall(states: set[ServiceState]) -> ServiceState:
    """One state for a release from its tasks' states."""
    if states == {"running"}:
        return "running"
    if "crashed" in states:
        return "crashed"
    if "backoff" in states:
        return "backoff"
    return "starting" if states - {"stopped"} else "stopped"


# -- a release's other process types (workers) ---------------------------------------------
#
# A worker is a Swarm service of one task, without a health check, held to ``local``'s
# rule (``agent/supervisor.py``, ``agent/switch.py``): it has started once it ran
# ``worker_settle`` seconds; one that exits before fails the deploy; one that exits during
# the watch window switches the previous release back in.


def why_ended(tasks: Iterable[Task]) -> str | None:
    """Why a task of a worker's service ended by itself (the engine's error, e.g. ``task:
    non-zero exit (1)``); None if none did."""
    gone = [t for t in tasks if t.ended]
    if not gone:
        return None
    failed = [t.error for t in gone if t.error]
    if failed:
        return failed[0]
    return "it exited with code 0" if gone[0].state == "stopped" else "it failed"


@dataclass(frozen=True)
class WorkerStart:
    """How a new worker's start stands at one look (:func:`worker_start`)."""

    since: float | None  # when its task was first seen running; None: it does not run
    started: bool = False  # it has run ``settle`` seconds
    problem: str = ""  # why it will not start (a task of it ended): the deploy fails


def worker_start(
    tasks: Sequence[Task], since: float | None, now: float, settle: float
) -> WorkerStart:
    """One look at a new worker's service before the switch: it has started once its task
    has been seen running for ``settle`` seconds (``since``: the last look's answer);
    a task of it that ended is a failure at once (it has restarted: ``local`` fails a
    worker that exits before it settled)."""
    problem = why_ended(tasks)
    if problem is not None:
        return WorkerStart(None, problem=problem)
    task = current(tasks).get(1)
    if task is None or task.state != "running":
        return WorkerStart(None)
    since = now if since is None else since
    return WorkerStart(since, now - since >= settle)


def worker_process(process_type: str, tasks: Sequence[Task]) -> ProcessInfo:
    """One worker's service as ``status`` shows it, as ``local`` shows a worker: port 0,
    no pid; its task's state, ``backoff`` while the task that replaces one that ended is
    not running yet; healthy while it runs; its ended tasks counted as restarts (as many
    as the engine keeps: its task history limit, 5 by default)."""
    task = current(tasks).get(1)
    restarts = sum(1 for t in tasks if t.ended)
    state: ServiceState = task.state if task is not None else "stopped"
    if state != "running" and restarts:
        state = "backoff"
    return ProcessInfo(None, 0, state, state == "running", restarts, process_type)


@dataclass(frozen=True)
class Finding:
    """What ``status`` must record after reading the engine: ``rolled_back`` (the
    engine rolled an update of the serving service back and what runs is not what was
    deployed) or ``note`` (it did, but to what was deployed); ``""`` nothing."""

    action: str
    reason: str = ""


def reconcile(update_state: str, update_message: str, running_image: str, deployed: str) -> Finding:
    """Compare the engine's update status and running image with the record (pure). A
    rollback still under way (``rollback_started``) is judged once it ends."""
    if not update_state.startswith("rollback") or update_state == "rollback_started":
        return Finding("")
    why = f"the engine's update status is {update_state}: {update_message}".rstrip(": ")
    if running_image != deployed:
        return Finding("rolled_back", f"{why}; it runs {running_image}, not {deployed}")
    return Finding("note", why)


# -- where tasks are reached ---------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One node of the swarm, as ``docker node inspect`` describes it."""

    id: str
    hostname: str
    address: str  # the address other nodes (and the front) reach it at
    available: bool  # ready and active: tasks may be placed on it

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> Node:
        """``Status.Addr``; a manager whose ``Status.Addr`` is unspecified (``0.0.0.0``,
        as some engines report it) is reached at its ``ManagerStatus.Addr``'s host."""
        status = data.get("Status") or {}
        address = str(status.get("Addr", ""))
        manager = str((data.get("ManagerStatus") or {}).get("Addr", ""))
        if _unspecified(address) and manager:
            address = manager.rsplit(":", 1)[0].strip("[]")
        spec = data.get("Spec") or {}
        return cls(
            id=str(data.get("ID", "")),
            hostname=str((data.get("Description") or {}).get("Hostname", "")),
            address=address,
            available=status.get("State") == "ready" and spec.get("Availability") == "active",
        )


def _unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return True


def task_addresses(
    tasks: Iterable[Task], nodes: Iterable[Node], ports: Sequence[int]
) -> dict[int, Address]:
    """Where each slot's running task is reached: its node's address and the slot's port
    (slot N on ``ports[N-1]``). A slot without a running task, or whose node is not
    known, is left out."""
    by_name = {key: node.address for node in nodes for key in (node.id, node.hostname) if key}
    found: dict[int, Address] = {}
    for slot, task in current(tasks).items():
        address = by_name.get(task.node)
        if task.state == "running" and address and 1 <= slot <= len(ports):
            found[slot] = (address, ports[slot - 1])
    return found


def is_public(address: str) -> bool:
    """True if ``address`` is reachable from the internet (a global unicast address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_unspecified


def listen_problem(listen: str, start: str, nodes: Iterable[Node]) -> str | None:
    """Why tasks listening on ``listen`` (with the start command ``start``) on the swarm's
    ``nodes`` would not work or would be exposed; None if they are fine:

    - a ``listen`` other than 127.0.0.1 needs ``{host}`` in the start command (else the
      service binds what its command says, not ``listen``);
    - a wildcard binds every interface of a node: refused if a node's address is public
      (its tasks would answer the internet on that address, beside the front);
    - a single address must be each available node's address: a task on a node whose
      address differs would listen where the front cannot reach it.
    """
    if listen != "127.0.0.1" and HOST_PLACEHOLDER not in start:
        return (
            f"listen = {listen!r} needs {HOST_PLACEHOLDER} in [service] start, where the "
            "service binds its address (it would bind what its command says)"
        )
    usable = [node for node in nodes if node.available]
    if listen in WILDCARDS:
        public = [node for node in usable if node.address and is_public(node.address)]
        if public:
            return (
                f"node {public[0].hostname or public[0].id} is on the public address "
                f"{public[0].address}: tasks listening on {listen} would answer the internet "
                "there, beside the front"
            )
        return None
    elsewhere = [node for node in usable if node.address != listen]
    if elsewhere:
        node = elsewhere[0]
        return (
            f"node {node.hostname or node.id} is at {node.address}, but tasks listen on "
            f"{listen}: the front could not reach a task placed there"
        )
    return None
