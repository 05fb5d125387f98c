"""The ``swarm`` target: an environment as Docker Swarm services, one per release.

Design (``docs/swarm.md``): containers use the host's network, so the tasks of two
releases cannot share a port. Each release is its own service (``plan.py``: a port
block, slot N on ``base + N``), started beside the serving one; Swarm's health check
(the service's health route, ``launch.py health``) gates each task, and stageline also
asks every task port itself. When all answer, stageline's front (``front.py``, the same
proxy as ``local``'s blue/green) switches the public port to the new block, drains the
old one, and the old service keeps running through the watch window: a crashed task, a
worker's task that ends (``workers.py``: the release's other process types, held to
``local``'s rule) or ``watch_failures`` failed checks in a row switch it back (one
reload) and record the deployment ``rolled_back``. When the window ends the old service is
removed.

The engine does what it is good at: placing tasks, restarting crashed ones, secrets,
limits, health checks. stageline keeps its promise on top: the same image (by digest)
everywhere, gates, sign-off, the switch, the window, the record.

The release folder is still prepared on this host (``LocalTarget.prepare``: host-side
gates read the bundle), and PostgreSQL / Redis stay where ``local`` runs them (the
containers reach them on 127.0.0.1 through the host network) or are given by URL.
"""

from __future__ import annotations

import json
import os
import secrets as random
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from stageline.agent.record import note_at, settle_at
from stageline.agent.release import Address
from stageline.config.model import WEB, Environment
from stageline.config.resolve import PostgresFacts, RedisFacts
from stageline.errors import DeployFailed, UsageError
from stageline.host.outbox import ensure_outbox, outbox_path
from stageline.targets.base import (
    CommandResult,
    DeploymentId,
    Health,
    Prepared,
    ProcessInfo,
    ServiceStatus,
    SwitchBack,
    WatchOutcome,
)
from stageline.targets.local import (
    TAIL_LINES,
    LocalTarget,
    _listen_host,
    port_is_free,
    public_answer_problem,
)
from stageline.targets.swarm import plan, watch, workers
from stageline.targets.swarm.engine import Engine, EngineError
from stageline.targets.swarm.front import SwarmFront
from stageline.targets.swarm.image import ImageRecord, ensure_image
from stageline.targets.swarm.state import Placed, SwarmState, load, save
from stageline.targets.swarm.watch import answers, task_url
from stageline.traffic.store import traffic_dir
from stageline.values import label

POLL = 0.5
IMAGE_ROOT = "/stageline"  # the release's folder inside its image (``image.py``)


class SwarmTarget:
    """One environment on a Docker Swarm. See the module docstring and ``base.py``."""

    def __init__(self, home: Path, env: Environment, service: str) -> None:
        self.home, self.env, self.service = home, env, service
        self.host = LocalTarget(home, env, service)  # release folder, backing services
        self.engine = Engine(env.target.docker_host)
        self.folder = home / "envs" / env.name / "swarm"
        self.front = SwarmFront(
            self.folder, env.name, _listen_host(env.url), env.target.port, home,
            traffic=traffic_dir(home, env.name).resolve(), record_traffic=env.records_traffic,
        )  # fmt: skip
        self.replicas = env.target.replicas
        self.listen = env.target.listen  # where tasks listen on their nodes

    # -- what the local target does for us ------------------------------------------------

    def prepare(self, release: object) -> Prepared:
        from stageline.targets.base import Release

        assert isinstance(release, Release)
        return self.host.prepare(release)

    def backing(self, *, start: bool = True) -> PostgresFacts | None:
        return self.host.backing(start=start)

    def redis(self, *, start: bool = True) -> RedisFacts | None:
        return self.host.redis(start=start)

    def admin_url(self, database: str = "postgres") -> str:
        return self.host.admin_url(database)

    def stop_backing(self) -> bool:
        return self.host.stop_backing()

    def prune(self, keep: Iterable[str]) -> list[str]:
        return self.host.prune(keep)

    # -- the image -----------------------------------------------------------------------

    def image(self, prepared: Prepared) -> tuple[ImageRecord, bool]:
        """The release's image (built once, recorded with the artifact; pushed to the
        environment's registry when it has one)."""
        base = self.env.target.base_image
        if not base:
            raise UsageError(
                f"{self.env.name} runs on swarm but names no base image",
                hint=f'set [environments.{self.env.name}.target] base_image = "python:3.12-slim"',
            )
        release = prepared.release
        return ensure_image(
            self.engine,
            release.artifact_path,
            release.manifest,
            release.digest,
            base,
            registry=self.env.target.registry,
        )

    def _reference(self, prepared: Prepared) -> str:
        record, _ = self.image(prepared)
        return record.reference(self.env.target.registry)

    # -- reach the service ---------------------------------------------------------------

    def url(self) -> str:
        return f"http://127.0.0.1:{self.env.target.port}"

    def health(self, path: str, *, timeout: float) -> Health:
        running = self.status()
        if running is None or running.state == "stopped":
            return "down"
        return "healthy" if answers(self.url() + path, timeout) else "unhealthy"

    def _passwords(self) -> tuple[str, ...]:
        """The passwords of the environment's backing services (a variable holding one,
        alone or inside another value, is secret: ``POSTGRES_PASSWORD``)."""
        facts = (self.host.backing(start=False), self.host.redis(start=False))
        return tuple(f.password for f in facts if f is not None and f.password)

    # -- one-off commands ----------------------------------------------------------------

    @contextmanager
    def _secrets_file(
        self, variables: Mapping[str, str]
    ) -> Iterator[tuple[list[str], dict[str, str]]]:
        """``docker run`` options giving ``variables`` to a one-off container: plain ones as
        ``-e``, secret ones in a file on a memory file system, mounted read-only, removed
        after (never in the container's recorded configuration)."""
        names = _secret_names(variables, self._passwords())
        plain = {k: v for k, v in variables.items() if k not in names and k != "PORT"}
        options = [a for k, v in sorted(plain.items()) for a in ("-e", f"{k}={v}")]
        if not names:
            yield options, plain
            return
        shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix="stageline-", dir=shm) as tmp:
            os.chmod(tmp, 0o700)
            file = Path(tmp) / "secrets.json"
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "w") as handle:
                json.dump({k: variables[k] for k in names if k in variables}, handle)
            options += ["-v", f"{tmp}:/run/stageline:ro"]
            options += ["-e", "STAGELINE_SECRETS_FILE=/run/stageline/secrets.json"]
            options += ["-e", f"{plan.SECRETS_VAR}={','.join(sorted(names))}"]
            yield options, plain

    def _outbox(self) -> str:
        """The environment's outbox on this host, made if missing (tasks mount it)."""
        return str(ensure_outbox(outbox_path(self.home, self.env.name)))

    def _one_off(
        self,
        prepared: Prepared,
        options: list[str],
        argv: Sequence[str],
        variables: Mapping[str, str] | None = None,
    ) -> list[str]:
        """``docker run`` arguments of a one-off container of the release's image: host
        network, ``options``, the environment's outbox (as its tasks have it)."""
        name = f"{plan.slug(self.service)}-{plan.slug(self.env.name)}-run-{random.token_hex(4)}"
        outbox = plan.outbox_args(self._outbox(), variables or {})
        return [
            "run", "--rm", "--name", name, "--network", "host", *options, *outbox,
            self._reference(prepared), "run", "--", *argv,
        ]  # fmt: skip

    def run(
        self, prepared: Prepared, command: str, variables: Mapping[str, str], *, timeout: float
    ) -> CommandResult:
        """The release command in a one-off container of the release's image."""
        log = self.host.folder / "logs" / "release.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self._secrets_file(variables) as (options, _):
            argv = _in_image(prepared, shlex.split(command))
            args = self._one_off(prepared, options, argv, variables)
            try:
                done = subprocess.run(
                    self.engine.argv(args), env=self.engine.env(), capture_output=True,
                    text=True, timeout=timeout, check=False,
                )  # fmt: skip
                code, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired:
                self.engine.run(["rm", "-f", args[3]])
                code, output = 124, f"timed out after {timeout}s"
        output = _masked(output, variables)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {command}  # {label(prepared.release.digest)} (swarm)\n{output}\n")
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        return CommandResult(command, code, tail, time.monotonic() - started)

    def run_probe(
        self, prepared: Prepared, argv: Sequence[str], *, timeout: float
    ) -> CommandResult:
        """A read-only command in a one-off container of the image (parity facts)."""
        started = time.monotonic()
        args = self._one_off(prepared, [], _in_image(prepared, argv))
        try:
            out = self.engine.run(args, timeout=timeout)
            code = 0
        except EngineError as exc:
            code, out = 1, str(exc)
        return CommandResult(shlex.join(argv), code, out, time.monotonic() - started)

    def run_interactive(
        self, prepared: Prepared, argv: Sequence[str], variables: Mapping[str, str]
    ) -> int:
        """A person's command in a one-off container, attached to this terminal."""
        with self._secrets_file(variables) as (options, _):
            tty = ["-t"] if sys.stdin.isatty() else []
            args = self._one_off(
                prepared, ["-i", *tty, *options], _in_image(prepared, argv), variables
            )
            code = subprocess.call(self.engine.argv(args), env=self.engine.env())
        return 128 - code if code < 0 else code

    # -- start, switch, watch ------------------------------------------------------------

    def start(
        self,
        prepared: Prepared,
        variables: Mapping[str, str],
        *,
        deployment: DeploymentId | None = None,
    ) -> ServiceStatus:
        state = self._retire_expired(load(self.folder))
        if state.previous is not None:  # a new deploy inside the window: the window ends
            self._remove(state.previous)  # (records its secrets for removal: read again)
            state = load(self.folder).with_(previous=None, watch_until=None)
            save(self.folder, state)
        if state.serving is None and self.front.pid() is None:
            self.host._refuse_a_busy_port()
        self._refuse_unreachable_listen(prepared.release.manifest.service.start)
        placed = self._create(prepared, variables, state)
        try:
            addresses = self._wait_ready(placed, prepared)
        except DeployFailed:
            self._remove(placed)
            raise
        failed_before = len(plan.failures(self._tasks(placed.service)))
        old = state.serving
        placed = replace(placed, hosts=tuple(host for host, _ in addresses))
        self.front.route(placed.digest, addresses)
        window = float(self.env.watch) if old is not None else 0.0
        state = state.with_(
            serving=placed,
            previous=old if window else None,
            watch_until=time.time() + window if window else None,
            deployment={**deployment.__dict__, "failures": failed_before} if deployment else None,
            outcome=None,
        )
        save(self.folder, state)
        if old is not None:
            self.front.drain(old.ports, float(self.env.drain_timeout))
            if not window:
                self._remove(old)
        problem = public_answer_problem(self.url() + prepared.release.manifest.service.health, 10.0)
        if problem is not None:
            raise DeployFailed(
                self.env.name,
                f"{prepared.release.version} was switched in, but {self.url()} did not answer: "
                f"{problem}",
                hint=f"see `stageline status` and {self.front.paths.front_log(self.env.name)}",
            )
        found = self.status()
        assert found is not None
        return found

    def _refuse_unreachable_listen(self, start: str) -> None:
        """Before anything is created: tasks must listen where the front reaches them,
        and never on a public address (``plan.listen_problem``)."""
        problem = plan.listen_problem(self.listen, start, self._nodes())
        if problem is not None:
            raise DeployFailed(
                self.env.name,
                f"{self.env.name} cannot run on this swarm: {problem}",
                hint=f"set [environments.{self.env.name}.target] listen (see docs/swarm.md, "
                '"One host or many") and bind {host} in [service] start',
            )

    def _create(
        self, prepared: Prepared, variables: Mapping[str, str], state: SwarmState
    ) -> Placed:
        release = prepared.release
        reference = self._reference(prepared)
        name = plan.service_name(self.service, self.env.name, release.digest, random.token_hex(2))
        taken = {p for placed in (state.serving, state.previous) if placed for p in placed.ports}
        base = plan.choose_base(self.replicas, taken, port_is_free, zlib.crc32(name.encode()))
        names = sorted(n for n in _secret_names(variables, self._passwords()) if n in variables)
        created: list[str] = []
        created_services: list[str] = []
        try:
            for variable in names:
                secret = plan.secret_name(name, variable)
                self.engine.run(
                    ["secret", "create", secret, "-"], stdin=variables[variable].encode()
                )
                created.append(secret)
            limits = plan.Limits(self.env.target.cpus, self.env.target.memory_mb)
            workers = sorted(t for t in release.manifest.service.processes if t != WEB)
            for service, replicas, command in [
                (name, self.replicas, ("web",)),
                *((plan.worker_name(name, t), 1, ("worker", t)) for t in workers),
            ]:
                self.engine.run(
                    plan.create_args(
                        service, reference, environment=self.env.name, digest=release.digest,
                        base=base, listen=self.listen, replicas=replicas, variables=variables,
                        secrets=names, limits=limits,
                        health_timeout=float(self.env.health_timeout),
                        stop_grace=float(self.env.drain_timeout),
                        resolve_image=bool(self.env.target.registry), command=command,
                        release=name,
                        outbox=self._outbox(),
                    )
                )  # fmt: skip
                created_services.append(service)
        except EngineError as exc:
            for service in created_services:
                self.engine.run(["service", "rm", service])
            for secret in created:
                self.engine.run(["secret", "rm", secret])
            raise DeployFailed(self.env.name, f"the engine refused {name}: {exc}") from None
        ports = plan.ports_of(base, self.replicas)
        health = release.manifest.service.health
        return Placed(
            name, release.digest, reference, ports, health, tuple(created),
            workers=tuple(created_services[1:]), processes=tuple(workers),
        )  # fmt: skip

    def _wait_ready(self, placed: Placed, prepared: Prepared) -> tuple[Address, ...]:
        """Once every task runs (Swarm's health check passed) and answers at its node's
        address and its port, and every worker has started (``workers.py``): those
        addresses, by slot. DeployFailed with the service's (or the worker's) log tail
        otherwise."""
        deadline = time.monotonic() + float(self.env.health_timeout) + 30
        health, version = prepared.release.manifest.service.health, prepared.release.version
        nodes = self._nodes()
        seen: dict[str, float] = {}
        while True:
            workers_up = workers.started(self, placed, seen, version)
            tasks = self._tasks(placed.service)
            found = plan.task_addresses(tasks, nodes, placed.ports)
            known = {n.id for n in nodes}
            if any(t.node and t.node not in known for t in plan.current(tasks).values()):
                nodes = self._nodes()  # a node joined since
            if (
                workers_up
                and plan.ready(tasks, self.replicas)
                and len(found) == self.replicas
                and all(answers(task_url(a, health), 5.0) for a in found.values())
            ):
                return tuple(found[slot] for slot in sorted(found))
            failed = plan.failures(tasks)
            if time.monotonic() > deadline and plan.ready(tasks, self.replicas) and not workers_up:
                workers.late(self, placed, seen, version)
            if time.monotonic() > deadline or len(failed) >= 2 * self.replicas:
                why = failed[-1].error if failed else "its tasks did not become healthy in time"
                raise DeployFailed(
                    self.env.name,
                    f"{version} did not become healthy in {self.env.name} on swarm: {why}; "
                    "it never took traffic",
                    log_tail=self._log_tail(placed.service),
                    hint=f"see `stageline logs {self.env.name}`"
                    + ("; the previous release keeps serving" if self.front.pid() else ""),
                )
            time.sleep(POLL)

    def wait_watch(self, timeout: float) -> WatchOutcome | None:
        """Watch the serving release until the window ends (or ``timeout``): ``watch.py``."""
        return watch.wait(self, timeout)

    def switch_back(self, reason: str) -> SwitchBack:
        return watch.switch_back(self, reason)

    def _retire_expired(self, state: SwarmState) -> SwarmState:
        """After the watch window: the previous release's service is removed."""
        if state.previous is None or (state.watch_until or 0) > time.time():
            return state
        self._remove(state.previous)  # (records its secrets for removal: read again)
        state = load(self.folder).with_(
            previous=None, watch_until=None, outcome={"status": "succeeded", "reason": ""}
        )
        save(self.folder, state)
        return state

    # -- observe and stop ----------------------------------------------------------------

    def _tasks(self, service: str) -> list[plan.Task]:
        try:
            rows = self.engine.lines(["service", "ps", "--no-trunc", "--no-resolve", service])
        except EngineError:
            return []
        return [plan.Task.from_row(row) for row in rows]

    def _nodes(self, ids: Iterable[str] | None = None) -> list[plan.Node]:
        """The swarm's nodes, or those of ``ids`` (``docker node inspect``: addresses)."""
        if ids is None:
            ids = self.engine.run(["node", "ls", "-q"]).split()
        wanted = sorted(set(ids))
        if not wanted:
            return []
        return [plan.Node.from_inspect(found) for found in self.engine.inspect("node", *wanted)]

    def _reached(self, tasks: list[plan.Task], ports: Sequence[int]) -> dict[int, Address]:
        """Where each running task is reached, asking the engine about their nodes only."""
        nodes = self._nodes(t.node for t in plan.current(tasks).values() if t.node)
        return plan.task_addresses(tasks, nodes, ports)

    def where(
        self, placed: Placed, reached: dict[int, Address] | None = None
    ) -> tuple[Address, ...]:
        """Where to route ``placed``: each task's address now (``reached``, else asked of
        the engine) if every slot is reached, else where its tasks were when it was last
        routed."""
        if reached is None:
            reached = self._reached(self._tasks(placed.service), placed.ports)
        if len(reached) == len(placed.ports):
            return tuple(reached[slot] for slot in sorted(reached))
        return placed.addresses

    def status(self) -> ServiceStatus | None:
        """What the engine runs for this environment, reconciled with the records."""
        state = self._retire_expired(load(self.folder))
        if state.retired:
            self._sweep()
        placed = state.serving
        if placed is None:
            return None
        found = self.engine.inspect("service", placed.service)
        tasks = self._tasks(placed.service)
        reached = self._reached(tasks, placed.ports)
        self._route_again(state, reached, bool(found))
        now = plan.current(tasks)
        web = tuple(
            ProcessInfo(
                None, port, now[slot].state if slot in now else "stopped",
                slot in reached and answers(task_url(reached[slot], placed.health), 2.0),
                sum(1 for t in tasks if t.slot == slot and t.state == "crashed"),
            )
            for slot, port in enumerate(placed.ports, start=1)
        )  # fmt: skip
        processes = web + workers.processes(self, placed)
        if found:
            self._reconcile(state, found[0])
        left = max((state.watch_until or 0) - time.time(), 0.0)
        return ServiceStatus(
            environment=self.env.name,
            digest=placed.digest,
            state=plan.overall({p.state for p in processes}) if found else "stopped",
            healthy=bool(found) and all(p.healthy for p in processes),
            pid=self.front.pid(),
            port=self.env.target.port,
            restarts=sum(p.restarts for p in processes),
            started_at=str(found[0].get("CreatedAt")) if found else None,
            strategy="blue-green",
            processes=processes,
            watching_for=round(left, 1),
        )

    def _route_again(self, state: SwarmState, reached: dict[int, Address], exists: bool) -> None:
        """The front again, if it died; routed anew (and recorded) if Swarm moved a task
        to another node and every slot is reached."""
        placed = state.serving
        if not exists or placed is None:
            return
        whole = len(reached) == len(placed.ports)
        addresses = self.where(placed, reached)
        if not self.front.supervised() or (whole and self.front.routed() != addresses):
            self.front.route(placed.digest, addresses)
        if whole and addresses != placed.addresses:
            moved = replace(placed, hosts=tuple(host for host, _ in addresses))
            save(self.folder, load(self.folder).with_(serving=moved))

    def _reconcile(self, state: SwarmState, service: dict[str, object]) -> None:
        spec = service.get("Spec")
        image = ""
        if isinstance(spec, dict):
            image = str(spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", ""))
        update = service.get("UpdateStatus")
        update = update if isinstance(update, dict) else {}
        found = plan.reconcile(
            str(update.get("State", "")), str(update.get("Message", "")), image,
            state.serving.image if state.serving else "",
        )  # fmt: skip
        key = f"{state.serving.service if state.serving else ''}:{update.get('CompletedAt', '')}"
        ref = state.deployment
        if not found.action or key in state.noted or ref is None:
            return
        if found.action == "rolled_back":
            settle_at(ref["store"], self.env.name, ref["id"], "rolled_back", found.reason)
        else:
            note_at(ref["store"], self.env.name, ref["id"], ref["digest"], "swarm.rollback",
                    reason=found.reason)  # fmt: skip
        save(self.folder, load(self.folder).with_(noted=[*state.noted, key]))

    def _remove(self, placed: Placed) -> None:
        """Remove a release's services now; its secrets once no task uses them (the
        engine removes containers in the background: ``_sweep`` retries)."""
        for service in (placed.service, *placed.workers):
            try:
                self.engine.run(["service", "rm", service])
            except EngineError as exc:
                if "not found" not in str(exc).lower():
                    raise
        state = load(self.folder)
        save(self.folder, state.with_(retired=[*state.retired, *placed.secrets]))
        self._sweep()

    def _sweep(self) -> None:
        """Remove the secrets of removed releases that no task holds any more."""
        state = load(self.folder)
        left = []
        for secret in state.retired:
            try:
                self.engine.run(["secret", "rm", secret])
            except EngineError as exc:
                if "not found" not in str(exc).lower():
                    left.append(secret)
        if left != state.retired:
            save(self.folder, state.with_(retired=left))

    def _wait_gone(self, timeout: float = 60.0) -> None:
        """Wait until no container of this environment is left (its ports are free)."""
        deadline = time.monotonic() + timeout
        label_filter = f"label={plan.LABEL}.environment={self.env.name}"
        while time.monotonic() < deadline:
            if not self.engine.run(["ps", "-aq", "--filter", label_filter]).strip():
                return
            time.sleep(POLL)

    def stop(self) -> None:
        state = load(self.folder)
        for placed in (state.serving, state.previous):
            if placed is not None:
                self._remove(placed)
        self.front.stop()
        self._wait_gone()
        self._sweep()
        save(self.folder, SwarmState(retired=load(self.folder).retired))

    def flush_traffic(self) -> bool:
        """This environment's front writes its traffic now (see base.py)."""
        from stageline.agent.front import flush

        return flush(self.front.paths, self.env.name)

    def _log_tail(self, service: str) -> str:
        try:
            args = ["service", "logs", "--raw", "--tail", str(TAIL_LINES), service]
            out = self.engine.run(args, merged=True)
        except EngineError as exc:
            return str(exc)
        return out.strip()

    def log_path(self, process: str = WEB) -> Path:
        """The serving release's logs of ``process`` (its web service, or the service of
        that process type), fetched from the engine into the file ``local`` keeps them in
        (``stageline logs`` reads it)."""
        path = self.host.log_path(process)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = load(self.folder)
        if state.serving is not None:
            args = ["service", "logs", "--raw", "--timestamps", "--tail", "2000"]
            try:
                service = _service_of(state.serving, process)
                path.write_text(self.engine.run([*args, service], merged=True))
            except EngineError as exc:
                path.write_text(f"(no logs from the engine: {exc})\n")
        return path


#: a secret value shorter than this is not looked for inside other variables' values
MIN_SECRET = 6


def _in_image(prepared: Prepared, argv: Sequence[str]) -> list[str]:
    """``argv`` with paths into the host's release folder turned into the image's: both
    hold ``venv/``, ``bundle/`` (or ``app/``) and ``runtime/``, under ``/stageline``."""
    root = str(prepared.root)
    return [IMAGE_ROOT + arg[len(root) :] if arg.startswith(root) else arg for arg in argv]


def _secret_names(variables: Mapping[str, str], passwords: Sequence[str] = ()) -> set[str]:
    """The variables that never go into a container's recorded configuration: the
    environment's secrets, any URL that carries a password (``DATABASE_URL``), and any
    variable whose value holds one of those values, a URL's password or one of
    ``passwords`` (``DB_PASSWORD = "${postgres.password}"``)."""
    declared = {n for n in variables.get("STAGELINE_SECRET_NAMES", "").split(",") if n}
    urls = {k for k, v in variables.items() if plan.has_password(v)}
    hidden = [variables[n] for n in declared if variables.get(n)]
    hidden += [plan.password_of(variables[n]) for n in urls] + list(passwords)
    values = [v for v in hidden if len(v) >= MIN_SECRET]
    carrying = {k for k, v in variables.items() if any(h in v for h in values)}
    return declared | urls | carrying


def _masked(text: str, variables: Mapping[str, str]) -> str:
    for name in sorted(_secret_names(variables), key=lambda n: -len(variables.get(n, ""))):
        value = variables.get(name, "")
        if value:
            text = text.replace(value, f"[secret:{name}]")
    return text


def _service_of(placed: Placed, process: str) -> str:
    """The Swarm service running ``process`` of a release (``web``: its own service)."""
    return placed.service if process == WEB else plan.worker_name(placed.service, process)
