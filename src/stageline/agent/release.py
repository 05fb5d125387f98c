"""Plain data for blue/green environments: a release to switch to, and what is on disk.

A proxied environment's state (``proxied.json``, one entry per environment) always says
which release serves: ``serving`` is written (atomically) *before* the proxy's reference
swap, so an agent killed at any moment comes back serving exactly one release:

- ``pending``: a release started beside the serving one and not switched to yet. A
  restarted agent stops its processes (it never received a request);
- ``previous``: the release switched away from, kept (its spec only) during the watch
  window so it can be started and switched back in;
- ``deployment``: the state-store deployment this switch belongs to, so the agent can
  record its outcome (``rolled_back``, or ``failed`` when it died before the switch)
  even when no command is waiting;
- ``idle``: ``serving`` is scaled to zero (``idle.py``): none of its processes runs
  (its ``ports`` are stale), the front holds the port and routes to nothing, and the
  next request has the agent start ``serving`` again on fresh ports.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from stageline.agent.spec import ProcessSpec, SpecError, _field

PORT_PLACEHOLDER = "{port}"
#: the address a process listens on, in a start command: ``LOOPBACK`` on this host, the
#: swarm target's ``listen`` address in a task
HOST_PLACEHOLDER = "{host}"
#: where a backend process listens: (host, port)
Address = tuple[str, int]
#: the host of a copy given by its port alone (the ``local`` target's copies)
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReleaseSpec:
    """One release of a proxied environment.

    ``template`` is the process to run, with ``{port}`` left in its argv; its ``port`` is
    the environment's **public** port (served by the proxy). Each of the ``processes``
    copies gets an internal port of its own, substituted for ``{port}`` and set as
    ``PORT``. ``workers`` are the release's other process types (one copy each, no port):
    they start with the web copies, must all have started before the switch, and stop
    with them. ``record_traffic``: the front records the environment's traffic profile
    while this release serves (``stageline.traffic``).
    """

    template: ProcessSpec
    processes: int = 1
    drain_timeout: float = 30.0
    watch: float = 30.0
    health_timeout: float = 60.0
    host: str = "127.0.0.1"
    #: the watch window judges health over a stretch, not one check: each check may take
    #: ``check_timeout`` seconds, and only ``failures`` failed checks in a row fail it
    check_timeout: float = 5.0
    failures: int = 3
    workers: tuple[ProcessSpec, ...] = ()
    #: stop every process after this many seconds without a request; the front keeps the
    #: port and starts the release again at the next one (``idle.py``). None: never
    scale_to_zero_after: float | None = None
    record_traffic: bool = False

    @property
    def environment(self) -> str:
        return self.template.environment

    @property
    def release(self) -> str:
        return self.template.release

    @property
    def public_port(self) -> int:
        return self.template.port

    def process(self, port: int) -> ProcessSpec:
        """The spec of one copy, listening on the internal ``port``."""
        argv = [arg.replace(PORT_PLACEHOLDER, str(port)) for arg in self.template.argv]
        env = {k: v.replace(PORT_PLACEHOLDER, str(port)) for k, v in self.template.env.items()}
        env["PORT"] = str(port)
        return replace(self.template, argv=argv, env=env, port=port)

    def to_dict(self) -> dict[str, Any]:
        return {
            "template": self.template.to_dict(),
            "processes": self.processes,
            "drain_timeout": self.drain_timeout,
            "watch": self.watch,
            "health_timeout": self.health_timeout,
            "host": self.host,
            "check_timeout": self.check_timeout,
            "failures": self.failures,
            "workers": [worker.to_dict() for worker in self.workers],
            "scale_to_zero_after": self.scale_to_zero_after,
            "record_traffic": self.record_traffic,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ReleaseSpec:
        if not isinstance(data, Mapping):
            raise SpecError("a release spec must be a JSON object")
        spec = cls(
            template=ProcessSpec.from_dict(data.get("template")),
            processes=_field(data, "processes", int),
            drain_timeout=float(_field(data, "drain_timeout", (int, float))),
            watch=float(_field(data, "watch", (int, float))),
            health_timeout=float(_field(data, "health_timeout", (int, float))),
            host=_field(data, "host", str),
            # absent from the state an older agent wrote: the defaults
            check_timeout=float(_field(data, "check_timeout", (int, float)))
            if "check_timeout" in data
            else cls.check_timeout,
            failures=_field(data, "failures", int) if "failures" in data else cls.failures,
            workers=tuple(ProcessSpec.from_dict(w) for w in _field(data, "workers", list))
            if "workers" in data
            else (),
            scale_to_zero_after=_idle_after(data.get("scale_to_zero_after")),
            record_traffic=_field(data, "record_traffic", bool)
            if "record_traffic" in data
            else False,
        )
        for worker in spec.workers:
            if worker.serves_http or worker.environment != spec.environment:
                raise SpecError(f"worker {worker.process_type!r} is not a worker of this release")
        if not 1 <= spec.processes <= 64:
            raise SpecError(f"field 'processes' is out of range ({spec.processes})")
        if spec.check_timeout <= 0 or spec.failures < 1:
            raise SpecError("fields 'check_timeout' and 'failures' must be positive")
        for name in ("drain_timeout", "watch", "health_timeout"):
            if getattr(spec, name) < 0:
                raise SpecError(f"field {name!r} must not be negative")
        return spec


def _idle_after(value: Any) -> float | None:
    """``scale_to_zero_after`` as read from a dict: absent or None is never."""
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise SpecError(f"field 'scale_to_zero_after' must be a positive number, not {value!r}")
    return float(value)


def process_key(environment: str, spec: ProcessSpec) -> str:
    """A proxied environment's process in ``running.json``: a web copy by its port, a
    worker by its type and release (old and new run side by side during a switch)."""
    if spec.serves_http:
        return f"{environment}:{spec.port}"
    return f"{environment}:{spec.process_type}:{spec.release.removeprefix('sha256:')[:12]}"


@dataclass(frozen=True)
class DeploymentRef:
    """Where the deployment a switch belongs to is recorded."""

    store: str
    id: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "id": self.id, "digest": self.digest}

    @classmethod
    def from_dict(cls, data: Any) -> DeploymentRef:
        if not isinstance(data, Mapping):
            raise SpecError("a deployment reference must be a JSON object")
        return cls(_field(data, "store", str), _field(data, "id", int), _field(data, "digest", str))


@dataclass(frozen=True)
class Group:
    """The processes of one release: its spec, the port of each copy and, when they are
    not on this host's loopback (a swarm's tasks on their nodes), the host of each.

    In ``proxied.json``: ``{"spec", "ports", "hosts"}``, ``hosts`` parallel to ``ports``
    and absent when every copy is on ``LOOPBACK`` (what older versions wrote and read:
    a front started by one still reads the ports of a file written now)."""

    spec: ReleaseSpec
    ports: tuple[int, ...]
    hosts: tuple[str, ...] = ()  # () is LOOPBACK for every port

    @classmethod
    def at(cls, spec: ReleaseSpec, addresses: Sequence[Address]) -> Group:
        """The group whose copies listen at ``addresses`` (host, port)."""
        hosts = tuple(host for host, _ in addresses)
        return cls(spec, tuple(p for _, p in addresses), () if set(hosts) <= {LOOPBACK} else hosts)

    @property
    def addresses(self) -> tuple[Address, ...]:
        hosts = self.hosts or (LOOPBACK,) * len(self.ports)
        return tuple(zip(hosts, self.ports, strict=True))

    def processes(self) -> list[ProcessSpec]:
        """Every process of the release: a web copy per port, then each worker."""
        return [self.spec.process(port) for port in self.ports] + list(self.spec.workers)

    def to_dict(self) -> dict[str, Any]:
        hosts = {"hosts": list(self.hosts)} if self.hosts else {}
        return {"spec": self.spec.to_dict(), "ports": list(self.ports), **hosts}

    @classmethod
    def from_dict(cls, data: Any) -> Group:
        if not isinstance(data, Mapping):
            raise SpecError("a process group must be a JSON object")
        ports = _field(data, "ports", list)
        if not ports or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
            raise SpecError("field 'ports' must list valid ports")
        hosts = _field(data, "hosts", list) if "hosts" in data else []
        if hosts and (len(hosts) != len(ports) or not all(_is_address(h) for h in hosts)):
            raise SpecError("field 'hosts' must list one IP address per port")
        return cls(ReleaseSpec.from_dict(data.get("spec")), tuple(ports), tuple(hosts))


def _is_address(host: Any) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return isinstance(host, str)


@dataclass(frozen=True)
class Outcome:
    """How the last switch ended: ``succeeded``, ``rolled_back`` or ``failed``."""

    status: str
    reason: str = ""
    deployment: int | None = None
    recorded: bool = False  # written to the state store yet


@dataclass(frozen=True)
class EnvState:
    """One proxied environment as kept on disk. See the module docstring."""

    serving: Group | None
    pending: Group | None = None
    previous: ReleaseSpec | None = None
    watch_until: float | None = None  # epoch seconds
    deployment: DeploymentRef | None = None
    outcome: Outcome | None = None
    idle: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "idle": self.idle,
            "serving": self.serving.to_dict() if self.serving else None,
            "pending": self.pending.to_dict() if self.pending else None,
            "previous": self.previous.to_dict() if self.previous else None,
            "watch_until": self.watch_until,
            "deployment": self.deployment.to_dict() if self.deployment else None,
            "outcome": self.outcome.__dict__ if self.outcome else None,
        }

    @classmethod
    def from_dict(cls, data: Any) -> EnvState:
        if not isinstance(data, Mapping):
            raise SpecError("an environment's state must be a JSON object")
        outcome = data.get("outcome")
        until = data.get("watch_until")
        return cls(
            serving=Group.from_dict(data["serving"]) if data.get("serving") else None,
            pending=Group.from_dict(data["pending"]) if data.get("pending") else None,
            previous=ReleaseSpec.from_dict(data["previous"]) if data.get("previous") else None,
            watch_until=float(until) if isinstance(until, int | float) else None,
            deployment=(
                DeploymentRef.from_dict(data["deployment"]) if data.get("deployment") else None
            ),
            outcome=_outcome(outcome),
            idle=data.get("idle") is True,
        )


def _outcome(data: Any) -> Outcome | None:
    if not isinstance(data, Mapping):
        return None
    try:
        return Outcome(**data)
    except TypeError as exc:
        raise SpecError(f"bad outcome: {exc}") from exc
