"""Plain data the agent and its callers exchange: what to run, and how it is doing.

Both classes round-trip through JSON-ready dicts (``to_dict`` / ``from_dict``);
``from_dict`` checks every field's type so a malformed request or a damaged state file
gives a message naming the field, never a crash further in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

ServiceState = Literal["starting", "running", "backoff", "crashed", "stopped", "idle"]
"""``starting``: launched, not yet healthy; ``running``: has answered its health check;
``backoff``: exited, waiting to be restarted; ``crashed``: exited, no restart planned;
``stopped``: stopped on purpose; ``idle``: scaled to zero (``idle.py``): no process
runs, the front holds the port and starts the serving release at the next request."""


class SpecError(ValueError):
    """A dict that does not describe a valid spec or status."""


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data:
        raise SpecError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SpecError(f"field {name!r} has the wrong type ({type(value).__name__})")
    return value


def _str_list(data: Mapping[str, Any], name: str) -> list[str]:
    value = _field(data, name, list)
    if not all(isinstance(item, str) for item in value):
        raise SpecError(f"field {name!r} must be a list of strings")
    return list(value)


def _str_dict(data: Mapping[str, Any], name: str) -> dict[str, str]:
    value = _field(data, name, dict)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SpecError(f"field {name!r} must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class ProcessSpec:
    """One environment's service process, exactly as the agent will run it.

    The caller has already split ``argv`` and substituted ``{port}``, and builds the
    full ``env`` (nothing is inherited from the agent). Health is checked at
    ``http://127.0.0.1:{port}{health_path}``; stdout and stderr are appended to
    ``log_path``.

    ``process_type`` is the service's process type (``[service.processes]``): ``web``
    serves HTTP; any other (a worker) has no port (0) and no health path (``""``): it is
    well while it runs (see ``Supervisor``).
    """

    environment: str
    release: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    port: int
    health_path: str
    log_path: str
    process_type: str = "web"

    @property
    def serves_http(self) -> bool:
        return self.process_type == "web"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ProcessSpec:
        if not isinstance(data, Mapping):
            raise SpecError("a process spec must be a JSON object")
        spec = cls(
            environment=_field(data, "environment", str),
            release=_field(data, "release", str),
            argv=_str_list(data, "argv"),
            cwd=_field(data, "cwd", str),
            env=_str_dict(data, "env"),
            port=_field(data, "port", int),
            health_path=_field(data, "health_path", str),
            log_path=_field(data, "log_path", str),
            # absent from the state an older agent wrote: web
            process_type=_field(data, "process_type", str) if "process_type" in data else "web",
        )
        if not spec.environment:
            raise SpecError("field 'environment' is empty")
        if not spec.argv:
            raise SpecError("field 'argv' is empty")
        if not spec.serves_http:
            if spec.port != 0 or spec.health_path:
                raise SpecError(f"process type {spec.process_type!r} has no port or health path")
            return spec
        if not 0 < spec.port < 65536:
            raise SpecError(f"field 'port' is out of range ({spec.port})")
        if not spec.health_path.startswith("/"):
            raise SpecError(f"field 'health_path' must start with '/' ({spec.health_path!r})")
        return spec


@dataclass(frozen=True)
class ServiceStatus:
    """What the agent knows about one environment's process right now."""

    environment: str
    release: str
    pid: int | None
    port: int
    state: ServiceState
    healthy: bool
    restarts: int
    started_at: str | None
    last_exit: int | None
    process_type: str = "web"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> ServiceStatus:
        if not isinstance(data, Mapping):
            raise SpecError("a service status must be a JSON object")
        state = _field(data, "state", str)
        if state not in get_args(ServiceState):
            raise SpecError(f"unknown state {state!r}")
        return cls(
            environment=_field(data, "environment", str),
            release=_field(data, "release", str),
            pid=_field(data, "pid", (int, type(None))),
            port=_field(data, "port", int),
            state=state,
            healthy=_field(data, "healthy", bool),
            restarts=_field(data, "restarts", int),
            started_at=_field(data, "started_at", (str, type(None))),
            last_exit=_field(data, "last_exit", (int, type(None))),
            process_type=_field(data, "process_type", str) if "process_type" in data else "web",
        )
