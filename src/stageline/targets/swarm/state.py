"""What the ``swarm`` target keeps on disk per environment (``envs/<env>/swarm/state.json``):
which release's service serves, which served before (kept running until the watch
window ends, so switching back is one reload of the front), and the deployment the
window belongs to. The engine holds the truth about tasks; this file only says which of
the environment's services is which, and is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stageline.agent.release import LOOPBACK, Address
from stageline.agent.state import write_json_atomic


@dataclass(frozen=True)
class Placed:
    """One release running as a Swarm service: its name, artifact digest, image reference,
    task ports (slot N on ``ports[N-1]``), the Swarm secrets made for it, and the node
    address of each slot's task when it was last routed (``hosts``, parallel to
    ``ports``; empty before: 127.0.0.1)."""

    service: str
    digest: str
    image: str
    ports: tuple[int, ...]
    health: str = "/"
    secrets: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()  # the services of its other process types
    hosts: tuple[str, ...] = ()
    processes: tuple[str, ...] = ()  # the process types of ``workers``, in their order

    @property
    def worker_types(self) -> tuple[tuple[str, str], ...]:
        """Each worker's (process type, service); a release recorded before the types
        were names its type by its service name's suffix (``plan.worker_name``)."""
        kinds = self.processes or tuple(w.removeprefix(f"{self.service}-") for w in self.workers)
        return tuple(zip(kinds, self.workers, strict=True))

    @property
    def addresses(self) -> tuple[Address, ...]:
        hosts = self.hosts or (LOOPBACK,) * len(self.ports)
        return tuple(zip(hosts, self.ports, strict=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Placed:
        return cls(
            service=data["service"],
            digest=data["digest"],
            image=data["image"],
            ports=tuple(data["ports"]),
            health=data.get("health", "/"),
            secrets=tuple(data.get("secrets", ())),
            workers=tuple(data.get("workers", ())),
            hosts=tuple(data.get("hosts", ())),
            processes=tuple(data.get("processes", ())),
        )


@dataclass(frozen=True)
class SwarmState:
    serving: Placed | None = None
    previous: Placed | None = None
    watch_until: float | None = None
    deployment: dict[str, Any] | None = None  # DeploymentId's fields
    outcome: dict[str, str] | None = None  # {"status", "reason"} of the last window
    noted: list[str] = field(default_factory=list)  # engine findings already recorded
    retired: list[str] = field(default_factory=list)  # secrets of removed releases, to remove

    def with_(self, **changes: Any) -> SwarmState:
        return replace(self, **changes)


def path(folder: Path) -> Path:
    return folder / "state.json"


def load(folder: Path) -> SwarmState:
    try:
        data = json.loads(path(folder).read_text())
    except FileNotFoundError:
        return SwarmState()
    return SwarmState(
        serving=Placed.from_dict(data["serving"]) if data.get("serving") else None,
        previous=Placed.from_dict(data["previous"]) if data.get("previous") else None,
        watch_until=data.get("watch_until"),
        deployment=data.get("deployment"),
        outcome=data.get("outcome"),
        noted=list(data.get("noted", [])),
        retired=list(data.get("retired", [])),
    )


def save(folder: Path, state: SwarmState) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path(folder), asdict(state))
