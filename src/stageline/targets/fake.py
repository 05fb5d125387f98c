"""An in-memory target for use-case tests: it records every call and plays scripted outcomes.

In the spirit of httpx's ``MockTransport`` and pyinfra's fake connector: nothing runs, no
port is bound; the one folder it makes is an empty working folder per release under the
``.stageline`` folder it is given (gates run there). A test makes a
:class:`FakeTargets` (one :class:`FakeTarget` per environment, kept across the
``Session.target`` calls of one use case), injects it for the ``local`` kind::

    fakes = FakeTargets()
    session = Session.open(root, targets={"local": fakes})
    fakes.script("staging", start="fails-health")

and then asserts on ``fakes["staging"].calls`` and on what the use case recorded. The
fake is never an entry point of ``stageline.targets``: only a test can inject it.

What a :class:`Script` sets (one field per outcome; the default is a healthy start):

- ``start="ok"``: the release starts, becomes healthy and serves (``status()`` says so);
- ``start="fails-health"``: it starts but its health check never passes: ``start`` raises
  ``DeployFailed`` with a log tail and the previous release keeps serving;
- ``start="crashes"``: it does not start at all (exits at once): ``DeployFailed``;
- ``start="busy-port"``: the environment's public port is taken by another program, before
  its first process: ``DeployFailed`` naming the port (as ``LocalTarget`` refuses);
- ``start="slow"``: it starts healthy only after ``slow_seconds``, which the fake adds to
  its clock (``FakeTarget.clock``) without sleeping;
- ``watch="crashes"``: blue/green, after a healthy switch: the release crashes inside the
  watch window, the previous release is switched back and ``wait_watch`` reports
  ``rolled_back`` (the store is updated by ``on_rolled_back``, as the agent does);
  ``watch="crashes-at-once"``: the same, right at the switch, before ``start`` returns
  (the agent records the rollback before the deploying command settles its record);
  ``watch="stays-open"``: ``wait_watch`` times out with the window still open;
- ``release_exit``: the exit code the release command returns (``run``);
- ``switch_back``: whether putting the previous release back succeeds;
- ``health``: what ``health()`` answers while something runs (``healthy``/``unhealthy``);
- ``backing``: the ``PostgresFacts`` ``backing()`` returns (None: no backing service);
  ``redis``: the ``RedisFacts`` ``redis()`` returns;
- ``command_exit``: the exit code a one-off command returns (``run_interactive``; the
  variables it was given are kept in ``FakeTarget.command_variables``).

Every method appends a :class:`Call` (its name and its main arguments) to ``calls``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, RedisFacts
from stageline.errors import DeployFailed, UsageError
from stageline.targets.base import (
    CommandResult,
    DeploymentId,
    Health,
    Prepared,
    Release,
    ServiceState,
    ServiceStatus,
    SwitchBack,
    WatchOutcome,
)
from stageline.values import label

StartOutcome = Literal["ok", "fails-health", "crashes", "busy-port", "slow"]


@dataclass
class Script:
    """The outcomes a :class:`FakeTarget` plays (see the module docstring)."""

    start: StartOutcome = "ok"
    watch: Literal["settles", "crashes", "crashes-at-once", "stays-open"] = "settles"
    release_exit: int = 0
    switch_back: bool = True
    health: Literal["healthy", "unhealthy"] = "healthy"
    backing: PostgresFacts | None = None
    redis: RedisFacts | None = None
    slow_seconds: float = 30.0
    command_exit: int = 0


@dataclass(frozen=True)
class Call:
    """One call a use case made: the method's name and its main arguments."""

    name: str
    args: tuple[str, ...] = ()


#: called with the deployment a watch-window crash rolled back and the reason
RolledBack = Callable[[DeploymentId, str], None]


@dataclass
class FakeTarget:
    """One environment that runs nothing; see the module docstring for what it scripts."""

    env: Environment
    service: str
    home: Path
    outcomes: Script = field(default_factory=Script)
    calls: list[Call] = field(default_factory=list)
    #: the digests that served, oldest first (the last one serves now); [] before any start
    served: list[str] = field(default_factory=list)
    stopped: bool = False
    clock: float = 0.0
    #: records a watch-window rollback in the store (the agent's part); set by the test
    on_rolled_back: RolledBack | None = None
    #: the variables the last one-off command (``run_interactive``) was given
    command_variables: dict[str, str] = field(default_factory=dict)
    _watched: WatchOutcome | None = None
    _previous: str | None = None
    _deployment: DeploymentId | None = None

    def names(self) -> list[str]:
        """The names of the calls so far, in order."""
        return [call.name for call in self.calls]

    # -- the Target protocol -------------------------------------------------------------

    def prepare(self, release: Release) -> Prepared:
        self.calls.append(Call("prepare", (release.digest,)))
        root = self.home / "fake" / self.env.name / release.digest.removeprefix("sha256:")[:12]
        prepared = Prepared(release, root, root / "bundle", root / "venv" / "bin")
        prepared.workdir.mkdir(parents=True, exist_ok=True)  # a gate's working folder
        return prepared

    def backing(self, *, start: bool = True) -> PostgresFacts | None:
        self.calls.append(Call("backing", ("start" if start else "facts",)))
        return self.outcomes.backing

    def redis(self, *, start: bool = True) -> RedisFacts | None:
        self.calls.append(Call("redis", ("start" if start else "facts",)))
        return self.outcomes.redis

    def admin_url(self, database: str = "postgres") -> str:
        self.calls.append(Call("admin_url", (database,)))
        facts = self.outcomes.backing
        if facts is None:
            raise UsageError(f"{self.env.name} has no PostgreSQL server")
        return PostgresFacts(facts.host, facts.port, "stageline", "", database).url

    def stop_backing(self) -> bool:
        self.calls.append(Call("stop_backing"))
        return self.outcomes.backing is not None or self.outcomes.redis is not None

    def url(self) -> str:
        return f"http://fake.invalid:{self.env.target.port}"

    def health(self, path: str, *, timeout: float) -> Health:
        self.calls.append(Call("health", (path,)))
        if not self.served or self.stopped:
            return "down"
        return self.outcomes.health

    def run(
        self, prepared: Prepared, command: str, variables: Mapping[str, str], *, timeout: float
    ) -> CommandResult:
        self.calls.append(Call("run", (command,)))
        code = self.outcomes.release_exit
        tail = "" if code == 0 else f"{command}: failed (scripted exit {code})"
        return CommandResult(command, code, tail, 0.0)

    def run_probe(
        self, prepared: Prepared, argv: Sequence[str], *, timeout: float
    ) -> CommandResult:
        self.calls.append(Call("run_probe", tuple(argv)))
        return CommandResult(" ".join(argv), 0, "", 0.0)

    def run_interactive(
        self, prepared: Prepared, argv: Sequence[str], variables: Mapping[str, str]
    ) -> int:
        self.calls.append(Call("run_interactive", tuple(argv)))
        self.command_variables = dict(variables)
        return self.outcomes.command_exit

    def start(
        self,
        prepared: Prepared,
        variables: Mapping[str, str],
        *,
        deployment: DeploymentId | None = None,
    ) -> ServiceStatus:
        digest = prepared.release.digest
        self.calls.append(Call("start", (digest,)))
        self._refuse(prepared)
        if self.outcomes.start == "slow":
            self.clock += self.outcomes.slow_seconds
        self._previous = self.served[-1] if self.served else None
        self.served.append(digest)
        self.stopped = False
        self._watched, self._deployment = None, deployment
        if self.outcomes.watch == "crashes-at-once" and self.env.strategy == "blue-green":
            self._watched = self._crash_in_watch()
        return self._status(digest)

    def _refuse(self, prepared: Prepared) -> None:
        outcome, env, version = self.outcomes.start, self.env.name, prepared.release.version
        serving = "; the previous release keeps serving" if self.served else ""
        if outcome == "busy-port" and not self.served:
            raise DeployFailed(
                env,
                f"port {self.env.target.port} of {env} is in use by another program",
                hint=f"stop that program, or give {env} another target.port",
            )
        if outcome in ("fails-health", "crashes"):
            why = "health check did not pass" if outcome == "fails-health" else "it exited"
            raise DeployFailed(
                env,
                f"{version} did not start in {env}: {why}",
                log_tail=f"{version}: scripted {outcome}",
                hint=f"see `stageline logs {env}`{serving}",
            )

    def _crash_in_watch(self) -> WatchOutcome:
        """The serving release crashes: the previous one serves again, and the deployment
        is recorded ``rolled_back`` through ``on_rolled_back`` (the agent's part)."""
        reason = f"{label(self.served[-1])} crashed in the watch window"
        if self._previous is not None:
            self.served.append(self._previous)
        if self._deployment is not None and self.on_rolled_back is not None:
            self.on_rolled_back(self._deployment, reason)
        return WatchOutcome(True, "rolled_back", reason, self.served[-1])

    def wait_watch(self, timeout: float) -> WatchOutcome | None:
        """The watch window's end (blue/green): ``succeeded``, or ``rolled_back`` when the
        script says the release crashes in it; None for a restart or before any start."""
        self.calls.append(Call("wait_watch"))
        if self.env.strategy != "blue-green" or not self.served:
            return None
        if self.outcomes.watch == "stays-open":
            return WatchOutcome(False, "", "", self.served[-1])
        if self._watched is None:
            crashes = self.outcomes.watch == "crashes"
            settled = WatchOutcome(True, "succeeded", "", self.served[-1])
            self._watched = self._crash_in_watch() if crashes else settled
        return self._watched

    def switch_back(self, reason: str) -> SwitchBack:
        self.calls.append(Call("switch_back", (reason,)))
        if self._previous is None:
            return SwitchBack(False, f"{self.env.name} has no earlier release to switch back to")
        if not self.outcomes.switch_back:
            return SwitchBack(False, "the previous release did not start again")
        self.served.append(self._previous)
        self._previous = None
        return SwitchBack(True)

    def stop(self) -> None:
        self.calls.append(Call("stop"))
        self.stopped = True

    def prune(self, keep: Iterable[str]) -> list[str]:
        kept = sorted(keep)
        self.calls.append(Call("prune", tuple(kept)))
        return []

    def status(self) -> ServiceStatus | None:
        self.calls.append(Call("status"))
        if not self.served:
            return None
        return self._status(self.served[-1])

    def log_path(self, process: str = "web") -> Path:
        name = "service.log" if process == "web" else f"{process}.log"
        return self.home / "fake" / self.env.name / name

    def flush_traffic(self) -> bool:
        """No front runs here: nothing to write (a fake serves no requests)."""
        return False

    def _status(self, digest: str) -> ServiceStatus:
        state: ServiceState = "stopped" if self.stopped else "running"
        return ServiceStatus(
            environment=self.env.name,
            digest=digest,
            state=state,
            healthy=not self.stopped,
            pid=None,
            port=self.env.target.port,
            restarts=0,
            started_at=None,
            strategy=self.env.strategy,
            watching_for=0.0,
        )


class FakeTargets:
    """A target factory for ``Session(targets={"local": FakeTargets()})``: one
    :class:`FakeTarget` per environment, made on first use and kept, so a use case that
    asks for the same environment's target twice talks to the same fake."""

    def __init__(self, on_rolled_back: RolledBack | None = None) -> None:
        self._made: dict[str, FakeTarget] = {}
        self._scripts: dict[str, Script] = {}
        self.on_rolled_back = on_rolled_back

    def __call__(self, home: Path, env: Environment, service: str) -> FakeTarget:
        found = self._made.get(env.name)
        if found is None:
            outcomes = self._scripts.setdefault(env.name, Script())
            found = FakeTarget(env, service, home, outcomes, on_rolled_back=self.on_rolled_back)
            self._made[env.name] = found
        found.env = env
        return found

    def script(self, environment: str, **outcomes: object) -> Script:
        """Set what ``environment``'s fake plays, before or after it is made."""
        script = self._scripts.setdefault(environment, Script())
        for name, value in outcomes.items():
            if not hasattr(script, name):
                raise UsageError(f"FakeTarget scripts no {name!r}")
            setattr(script, name, value)
        return script

    def __getitem__(self, environment: str) -> FakeTarget:
        """The fake of ``environment``; KeyError if no use case asked for it yet."""
        return self._made[environment]

    def __contains__(self, environment: object) -> bool:
        return environment in self._made
