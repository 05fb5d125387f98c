"""Pure decisions of the ``swarm`` target: names, ports, the service's arguments, and
what the engine's tasks say about a release. No I/O here.

Ports: containers use the host's network (no container network, no routing mesh), so
two tasks cannot share a port. Each release of an environment is a Swarm service of its
own, given a **port block**: task slot N (``{{.Task.Slot}}``, 1..replicas) listens on
``base + N``. The environment's public port belongs to stageline's front, which forwards
to the serving release's block; a new release gets another block, so both run side by
side until the switch (blue/green), and the previous one stays up for the watch window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from stageline.targets.base import ServiceState

LABEL = "org.stageline"
#: where port blocks are taken from (below Linux's default ephemeral range)
BLOCK_RANGE = (20000, 32000)
HEALTH_CMD = "/stageline/venv/bin/python /stageline/launch.py health"
#: names the variables the launcher reads from secret files (``/run/secrets/NAME``)
SECRETS_VAR = "STAGELINE_SECRET_FILES"
#: variables the launcher sets itself, per task
OWN_VARIABLES = ("PORT", "STAGELINE_PORT_BASE", "STAGELINE_SLOT")
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
    replicas: int,
    variables: Mapping[str, str],
    secrets: Sequence[str],
    limits: Limits,
    health_timeout: float,
    stop_grace: float,
    resolve_image: bool,
    command: Sequence[str] = ("web",),
    outbox: str | None = None,
) -> list[str]:
    """``docker service create`` arguments of one release's web service (``command``
    ``("web",)``) or of one of its workers (``("worker", TYPE)``): host network, the port
    block, plain variables as ``--env`` and each secret variable as a Swarm secret
    (``secrets``: variable names; the file ``/run/secrets/NAME``), never a value in the
    spec; the host's ``outbox`` file mounted (:func:`outbox_args`); Swarm's health check
    is the service's health route (a worker has none)."""
    args = ["service", "create", "--detach", "--name", name, "--network", "host"]
    args += ["--replicas", str(replicas), "--restart-condition", "any", "--restart-delay", "1s"]
    for key, value in (("environment", environment), ("artifact", digest), ("port-base", base)):
        args += ["--label", f"{LABEL}.{key}={value}", "--container-label", f"{LABEL}.{key}={value}"]
    hidden = set(secrets) | set(OWN_VARIABLES)
    for key, value in sorted(variables.items()):
        if key not in hidden:
            args += ["--env", f"{key}={value}"]
    args += ["--env", f"STAGELINE_PORT_BASE={base}", "--env", "STAGELINE_SLOT={{.Task.Slot}}"]
    args += ["--env", f"{SECRETS_VAR}={','.join(sorted(secrets))}"]
    args += outbox_args(outbox, variables)
    for variable in sorted(secrets):
        source = secret_name(name, variable)
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


@dataclass(frozen=True)
class Task:
    """One task of a release's service, as ``docker service ps`` lists it."""

    slot: int
    state: ServiceState
    desired: str  # "running" or "shutdown"
    error: str

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
    return "starting" if states - {"stopped"} else "stopped"


@dataclass(frozen=True)
class Finding:
    """What ``status`` must record after reading the engine: ``rolled_back`` (the
    engine rolled an update of the serving service back and what runs is not what was
    deployed) or ``note`` (it did, but to what was deployed); ``""`` nothing."""

    action: str
    reason: str = ""


def reconcile(update_state: str, update_message: str, running_image: str, deployed: str) -> Finding:
    """Compare the engine's update status and running image with the record (pure)."""
    if not update_state.startswith("rollback"):
        return Finding("")
    why = f"the engine's update status is {update_state}: {update_message}".rstrip(": ")
    if running_image != deployed:
        return Finding("rolled_back", f"{why}; it runs {running_image}, not {deployed}")
    return Finding("note", why)
