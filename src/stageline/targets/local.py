"""The ``local`` target: environments on this host, run by the host agent.

Layout under the ``.stageline`` folder, per environment::

    envs/<env>/releases/<digest12>/   one folder per release: venv/ and bundle/ (or app/)
    envs/<env>/logs/service.log       the web process's output (``stageline logs``)
    envs/<env>/logs/<type>.log        another process type's (``logs --process worker``)
    envs/<env>/logs/release.log       release command output
    envs/<env>/persist/<folder>/      ``[service] persist`` folders, linked into releases
    envs/<env>/postgres/              its own PostgreSQL server (backing.py)
    envs/<env>/redis/                 its own Redis server (backing.py)

Release folders are sealed read-only; a service that keeps files in its working folder
declares those folders in ``persist`` (``host/persist.py``), each environment's own.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import httpx

from stageline.agent.client import AgentClient
from stageline.agent.release import (
    HOST_PLACEHOLDER,
    LOOPBACK,
    PORT_PLACEHOLDER,
    DeploymentRef,
    ReleaseSpec,
)
from stageline.agent.spec import ProcessSpec
from stageline.artifacts import install
from stageline.artifacts.runner import run as run_build_step
from stageline.config.model import WEB, Environment
from stageline.config.resolve import PostgresFacts, RedisFacts
from stageline.errors import AgentError, DeployFailed, ReleaseFolderChanged, UsageError
from stageline.host import persist, release_folder
from stageline.host.disk import reported
from stageline.host.outbox import outbox_path
from stageline.host.priority import lowered
from stageline.host.signals import handled
from stageline.launch import checked_start, wrap_command, wrap_service
from stageline.targets.backing import (
    ensure_postgres,
    ensure_redis,
    postgres_facts,
    redis_facts,
    server_admin_url,
    stop_postgres,
    stop_redis,
)
from stageline.targets.base import (
    CommandResult,
    DeploymentId,
    Health,
    Prepared,
    ProcessInfo,
    Release,
    ServiceStatus,
    SwitchBack,
    WatchOutcome,
)
from stageline.values import label

READY = ".ready"
TAIL_LINES = 20
PUBLIC_CHECK_TIMEOUT = 10.0  # seconds the first request through the public port may take


class LocalTarget:
    """One environment on this host. See ``targets/base.py`` for the contract."""

    def __init__(self, home: Path, env: Environment, service: str) -> None:
        self.home = home
        self.env = env
        self.service = service
        self.health_timeout = float(env.health_timeout)
        self.folder = home / "envs" / env.name
        self.agent = AgentClient(home)
        #: what ``{port}`` in the start command becomes: the public port for a plain
        #: restart, left as ``{port}`` for blue/green (the agent gives each copy its own)
        self._port_text = str(env.target.port)
        #: restart strategy: the spec ``start`` replaced, and the one it started
        self._replaced: ProcessSpec | None = None
        self._started: ProcessSpec | None = None

    # -- prepare -------------------------------------------------------------------------

    def release_folder(self, digest: str) -> Path:
        return self.folder / "releases" / digest.removeprefix("sha256:")[:12]

    def prepare(self, release: Release) -> Prepared:
        """Make the release folder once (then sealed: ``release_folder.py``); a folder made
        before is checked file by file, and ReleaseFolderChanged if it differs."""
        root = self.release_folder(release.digest)
        if not (root / READY).is_file():
            self._make(release, root)
        elif not release_folder.is_sealed(root):  # made by an earlier stageline
            release_folder.seal(root)
        else:
            self.check_sealed(root, full=True)
        workdir = root / ("app" if release.manifest.service.kind == "app" else "bundle")
        return Prepared(release, root, workdir, root / "venv" / "bin")

    def _make(self, release: Release, root: Path) -> None:
        if root.exists():
            release_folder.remove(root)
        root.mkdir(parents=True)
        kind = release.manifest.service.kind
        inner = "app" if kind == "app" else "bundle"
        source = release.artifact_path / inner
        if source.is_dir():
            shutil.copytree(source, root / inner, symlinks=True)
        else:
            (root / inner).mkdir()
        with reported(f"preparing {label(release.digest)} in {self.env.name}", root):
            install(release.artifact_path, root / "venv", compile_bytecode=True, own_files=True)
            provide_runtime(root)
            compile_tree(root / "venv" / "bin" / "python", [root / inner, root / "runtime"])
            entries = release.manifest.service.persist
            persist.link(root / inner, persist.persist_root(self.folder), entries)
            (root / READY).write_text(release.digest + "\n")
            release_folder.seal(root)

    def check_sealed(self, root: Path, *, full: bool) -> None:
        """ReleaseFolderChanged naming the first file of ``root`` that differs from its
        record (``full``: every file hashed; else only files whose lstat key moved)."""
        problem = release_folder.check(root, full=full)
        if problem is not None:
            raise ReleaseFolderChanged(self.env.name, str(root), problem)

    def prune(self, keep: Iterable[str]) -> list[str]:
        """Remove release folders beyond the retention count, never one in ``keep``."""
        kept = {d.removeprefix("sha256:")[:12] for d in keep}
        folders = sorted(
            (p for p in (self.folder / "releases").glob("*") if p.is_dir()),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        removed: list[str] = []
        for extra in folders[self.env.retain :]:
            if extra.name not in kept:
                release_folder.remove(extra)
                removed.append(extra.name)
        return removed

    # -- backing services ----------------------------------------------------------------

    def backing(self, *, start: bool = True) -> PostgresFacts | None:
        if not start:
            return postgres_facts(self.home, self.env, self.service)
        return ensure_postgres(self.home, self.env, self.service)

    def redis(self, *, start: bool = True) -> RedisFacts | None:
        if not start:
            return redis_facts(self.home, self.env)
        return ensure_redis(self.home, self.env)

    def admin_url(self, database: str = "postgres") -> str:
        return server_admin_url(self.home, self.env, database)

    def stop_backing(self) -> bool:
        stopped_redis = stop_redis(self.home, self.env)
        return stop_postgres(self.home, self.env) or stopped_redis

    # -- reach the service ---------------------------------------------------------------

    def url(self) -> str:
        """The service's public port on this host (the proxy's, for blue/green)."""
        return f"http://127.0.0.1:{self.env.target.port}"

    def health(self, path: str, *, timeout: float) -> Health:
        running = self.status()
        if running is None or running.state == "stopped":
            return "down"
        try:
            ok = httpx.get(self.url() + path, timeout=timeout, trust_env=False).status_code == 200
        except httpx.HTTPError:
            ok = False
        return "healthy" if ok else "unhealthy"

    # -- run and start -------------------------------------------------------------------

    def _process_env(self, prepared: Prepared, variables: Mapping[str, str]) -> dict[str, str]:
        base = {
            k: v for k, v in os.environ.items() if k in ("HOME", "LANG", "LC_ALL", "TZ", "USER")
        }
        base["PATH"] = f"{prepared.bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
        base["VIRTUAL_ENV"] = str(prepared.bin_dir.parent)
        base["PYTHONUNBUFFERED"] = "1"
        base["PYTHONDONTWRITEBYTECODE"] = "1"  # compiled when prepared; the folder is sealed
        base["STAGELINE_OUTBOX"] = str(outbox_path(self.home, self.env.name))
        return {**base, **variables}

    def _argv(self, prepared: Prepared, command: str) -> list[str]:
        argv = shlex.split(
            command.replace("{port}", self._port_text).replace(HOST_PLACEHOLDER, LOOPBACK)
        )
        local = prepared.bin_dir / argv[0]
        if local.is_file():
            argv[0] = str(local)
        return argv

    def run(
        self, prepared: Prepared, command: str, variables: Mapping[str, str], *, timeout: float
    ) -> CommandResult:
        log = self.folder / "logs" / "release.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            proc = subprocess.run(
                lowered(wrap_command(self._argv(prepared, command), variables)),  # masked
                cwd=prepared.workdir,
                env=self._process_env(prepared, variables),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            partial = [
                p.decode(errors="replace") if isinstance(p, bytes) else p or ""
                for p in (exc.stdout, exc.stderr)
            ]
            code, output = 124, "".join(partial) + f"\ntimed out after {timeout}s"
        except OSError as exc:
            code, output = 127, str(exc)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ {command}  # {label(prepared.release.digest)}\n{output}\n")
        tail = "\n".join(str(output).strip().splitlines()[-TAIL_LINES:])
        return CommandResult(command, code, tail, time.monotonic() - started)

    def spec(
        self,
        prepared: Prepared,
        variables: Mapping[str, str],
        process_type: str = WEB,
        command: str | None = None,
    ) -> ProcessSpec:
        """The agent's spec of one process: ``web`` (``start``, the port, the health
        path) or another process type running ``command`` (no port, no ``PORT``)."""
        manifest = prepared.release.manifest
        web = process_type == WEB
        env = self._process_env(prepared, variables)
        if not web:
            env.pop("PORT", None)
        # secrets: sealed for stageline.launch, never in the spec (desired.json) itself
        argv, env = wrap_service(
            self.home,
            self.env.name,
            prepared.release.digest,
            self._argv(prepared, manifest.service.start if web else command or ""),
            env,
        )
        argv, env = checked_start(argv, env, prepared.root)
        return ProcessSpec(
            environment=self.env.name,
            release=prepared.release.digest,
            argv=argv,
            cwd=str(prepared.workdir),
            env=env,
            port=self.env.target.port if web else 0,
            health_path=manifest.service.health if web else "",
            log_path=str(self.log_path(process_type)),
            process_type=process_type,
        )

    def release_spec(self, prepared: Prepared, variables: Mapping[str, str]) -> ReleaseSpec:
        """The blue/green order: the process spec with ``{port}`` left in, and the
        environment's switch settings."""
        self._port_text = PORT_PLACEHOLDER
        try:
            template = self.spec(prepared, variables)
        finally:
            self._port_text = str(self.env.target.port)
        types = prepared.release.manifest.service.processes  # web is ``start``, above
        workers = tuple(
            self.spec(prepared, variables, name, command)
            for name, command in sorted(types.items())
            if name != WEB
        )
        return ReleaseSpec(
            template,
            workers=workers,
            processes=self.env.processes,
            drain_timeout=float(self.env.drain_timeout),
            watch=float(self.env.watch),
            health_timeout=self.health_timeout,
            host=_listen_host(self.env.url),
            check_timeout=float(self.env.watch_check_timeout),
            failures=self.env.watch_failures,
            scale_to_zero_after=self.env.scale_to_zero_after,
            record_traffic=self.env.records_traffic,
        )

    def start(
        self,
        prepared: Prepared,
        variables: Mapping[str, str],
        *,
        deployment: DeploymentId | None = None,
    ) -> ServiceStatus:
        self.log_path().parent.mkdir(parents=True, exist_ok=True)
        self.agent.ensure_running()
        if self.env.strategy == "blue-green":
            ref = (
                DeploymentRef(deployment.store, deployment.id, deployment.digest)
                if deployment
                else None
            )
            return self._switch(prepared, variables, ref)
        previous = self.agent.desired().get(self.env.name)
        if previous is None and self.env.name not in self.agent.proxied():
            self._refuse_a_busy_port()
        spec = self.spec(prepared, variables)
        try:
            status = self.agent.start(spec, health_timeout=self.health_timeout)
        except AgentError as exc:
            if previous is not None:
                self.agent.start(previous, health_timeout=self.health_timeout)
            raise DeployFailed(
                self.env.name,
                f"{prepared.release.version} did not start in {self.env.name}: {exc}",
                log_tail=getattr(exc, "log_tail", ""),
                hint=f"see `stageline logs {self.env.name}`"
                + ("; the previous release is serving again" if previous else ""),
            ) from None
        self._replaced, self._started = previous, spec
        return _status(status)

    def _refuse_a_busy_port(self) -> None:
        """Before this environment's first process: its public port must be free."""
        port = self.env.target.port
        if not port_is_free(port):
            raise DeployFailed(
                self.env.name,
                f"port {port} of {self.env.name} is in use by another program",
                hint=f"stop that program, or give {self.env.name} another target.port",
            )

    def _switch(
        self, prepared: Prepared, variables: Mapping[str, str], deployment: DeploymentRef | None
    ) -> ServiceStatus:
        serving = self.agent.proxied().get(self.env.name)
        if serving is None and self.env.name not in self.agent.desired():
            self._refuse_a_busy_port()
        version = prepared.release.version
        try:
            self.agent.switch(self.release_spec(prepared, variables), deployment=deployment)
        except AgentError as exc:
            if not self.agent.is_running():  # the agent died mid-switch: what serves now?
                self.agent.ensure_running()
                now = self.agent.proxied().get(self.env.name)
                if now is not None and now.get("serving") == prepared.release.digest:
                    found = self.status()
                    assert found is not None
                    return found
            raise DeployFailed(
                self.env.name,
                f"{version} did not start in {self.env.name}: {exc}",
                log_tail=getattr(exc, "log_tail", ""),
                hint=f"see `stageline logs {self.env.name}`"
                + ("; the previous release keeps serving" if serving else ""),
            ) from None
        self._require_public_answer(version, prepared.release.manifest.service.health)
        found = self.status()
        assert found is not None
        return found

    def _require_public_answer(self, version: str, health_path: str) -> None:
        """After a switch: a real request through the public port must be answered by the
        release, or the deploy fails (it is not "healthy" because the copies are)."""
        host = _listen_host(self.env.url)
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.env.target.port}"
        problem = public_answer_problem(url + health_path, PUBLIC_CHECK_TIMEOUT)
        if problem is not None:
            raise DeployFailed(
                self.env.name,
                f"{version} was switched in, but {url}{health_path} did not answer through "
                f"{self.env.name}'s public port: {problem}",
                hint=f"see `stageline status` and {self.agent.paths.dir}/front-{self.env.name}.log",
            )

    def wait_watch(self, timeout: float) -> WatchOutcome | None:
        """Wait for the watch window after a switch to end; None if not blue/green."""
        if not self.agent.available() or self.env.name not in self.agent.proxied():
            return None
        described = self.agent.outcome(self.env.name, timeout=timeout)
        outcome = described.get("outcome") or {}
        return WatchOutcome(
            settled=bool(described.get("settled")),
            status=str(outcome.get("status", "")),
            reason=str(outcome.get("reason", "")),
            serving=str(described.get("serving") or ""),
        )

    def switch_back(self, reason: str) -> SwitchBack:
        """Put back the release that served before ``start`` (see ``targets/base.py``)."""
        if self.env.strategy == "blue-green":
            try:
                described = self.agent.revert(self.env.name, reason, timeout=self.health_timeout)
            except AgentError as exc:
                return SwitchBack(False, str(exc))
            outcome = described.get("outcome") or {}
            if outcome.get("status") == "rolled_back":
                return SwitchBack(True)
            return SwitchBack(False, "the previous release did not start again")
        if self._replaced is None or self._started is None:
            return SwitchBack(False, f"{self.env.name} has no earlier release to switch back to")
        previous, started = self._replaced, self._started
        try:  # the same step as a failed start: the previous spec, started again
            self.agent.start(previous, health_timeout=self.health_timeout)
        except AgentError as exc:
            self.agent.start(started, health_timeout=self.health_timeout)
            return SwitchBack(False, f"the previous release did not start again: {exc}")
        self._replaced, self._started = None, None
        return SwitchBack(True)

    # -- observe and stop ----------------------------------------------------------------

    def status(self) -> ServiceStatus | None:
        if not self.agent.available():  # brings a dead agent back if something should run
            return None
        found = self.agent.status().get(self.env.name)
        if found is None:
            return None
        status = _status(found)
        proxied = self.agent.proxied().get(self.env.name)
        if proxied is None:
            return status
        processes = tuple(
            ProcessInfo(
                p["pid"], p["port"], p["state"], p["healthy"], p["restarts"],
                p.get("process_type", WEB),
            )
            for p in proxied.get("processes", [])
        )  # fmt: skip
        return replace(
            status,
            strategy="blue-green",
            processes=processes,
            watching_for=float(proxied.get("watching_for") or 0),
        )

    def stop(self) -> None:
        if self.agent.available():  # a dead agent is brought back to stop what it left
            self.agent.stop(self.env.name, shutdown_when_idle=True)

    def log_path(self, process: str = WEB) -> Path:
        """The output log of a process type (``web``: ``service.log``)."""
        return self.folder / "logs" / ("service.log" if process == WEB else f"{process}.log")

    def flush_traffic(self) -> bool:
        """The agent's front of this environment writes its traffic now (see base.py)."""
        from stageline.agent.front import flush
        from stageline.agent.state import AgentPaths

        return flush(AgentPaths(self.home), self.env.name)

    def run_probe(
        self, prepared: Prepared, argv: Sequence[str], *, timeout: float
    ) -> CommandResult:
        """A read-only command in the release's virtualenv (parity facts); full stdout."""
        started, line = time.monotonic(), list(argv)
        if (prepared.bin_dir / line[0]).is_file():
            line[0] = str(prepared.bin_dir / line[0])
        try:
            proc = subprocess.run(
                line, cwd=prepared.workdir, env=self._process_env(prepared, {}),
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            code, output = proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr
        except (OSError, subprocess.TimeoutExpired) as exc:
            code, output = 127, str(exc)
        return CommandResult(shlex.join(line), code, output, time.monotonic() - started)

    def run_interactive(
        self, prepared: Prepared, argv: Sequence[str], variables: Mapping[str, str]
    ) -> int:
        """A person's command in the release's context, on their terminal (see base.py)."""
        line = list(argv)
        if (prepared.bin_dir / line[0]).is_file():
            line[0] = str(prepared.bin_dir / line[0])
        try:
            child = subprocess.Popen(
                line, cwd=prepared.workdir, env=self._process_env(prepared, variables)
            )
        except OSError as exc:
            raise UsageError(
                f"cannot run {argv[0]!r} in {self.env.name}: {exc.strerror or exc}",
                hint=f"commands are looked up in the release's {prepared.bin_dir} first, "
                "then on PATH",
            ) from None
        with _passed_on(child):
            while True:
                try:
                    code = child.wait()
                except KeyboardInterrupt:  # the terminal's Ctrl-C reached the command too
                    continue
                return 128 - code if code < 0 else code


@contextmanager
def _passed_on(child: subprocess.Popen[bytes]) -> Iterator[None]:
    """While the block runs, a SIGTERM or SIGHUP sent to stageline goes to ``child``
    instead (which decides, as with Ctrl-C), so stageline outlives it and cleans up after
    it (``stageline run``'s copy)."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    with handled(forward):
        yield


def provide_runtime(root: Path) -> None:
    """Make ``stageline.runtime`` importable in the release's virtualenv.

    The helper is standard-library only, so the host provides it to every release (as a
    platform provides its runtime): a copy under ``<release>/runtime`` and a ``.pth``
    file. A release that installs stageline itself keeps its own (``.pth`` paths come
    last on ``sys.path``).
    """
    import stageline.runtime as helper

    package = root / "runtime" / "stageline"
    shutil.copytree(
        Path(helper.__file__).parent,
        package / "runtime",
        ignore=shutil.ignore_patterns("__pycache__"),
        dirs_exist_ok=True,
    )
    (package / "__init__.py").write_text(
        '"""stageline\'s runtime helper, provided by the host."""\n'
    )
    (package / "py.typed").write_text("")
    for site in (root / "venv" / "lib").glob("python*/site-packages"):
        (site / "_stageline_runtime.pth").write_text(str(root / "runtime") + "\n")


def compile_tree(python: Path, folders: Sequence[Path]) -> None:
    """Write the bytecode of every module in ``folders`` now, with the release's own
    Python, so a sealed folder never needs a ``__pycache__`` written at run time."""
    present = [str(folder) for folder in folders if folder.is_dir()]
    if present:
        run_build_step(
            [str(python), "-m", "compileall", "-q", "-j", "0", *present],
            what="compiling the release's modules",
            writes=folders[0].parent,
        )


def _listen_host(url: str) -> str:
    """Where the proxy listens: the URL's host if it is an address, else 127.0.0.1."""
    host = urlsplit(url).hostname or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "127.0.0.1"
    return host


def public_answer_problem(url: str, timeout: float) -> str | None:
    """None if ``url`` answers 200 within ``timeout`` seconds (retrying while it refuses
    or answers 502/503, as a front that was just restarted may); else why it did not."""
    with httpx.Client(trust_env=False, timeout=min(timeout, 5.0)) as http:
        deadline = time.monotonic() + timeout
        while True:  # at least once, however late
            try:
                response = http.get(url)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return None
                problem = f"HTTP {response.status_code}"
            if time.monotonic() >= deadline:
                return problem
            time.sleep(0.2)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _status(found: object) -> ServiceStatus:
    from stageline.agent.spec import ServiceStatus as AgentStatus

    assert isinstance(found, AgentStatus)
    return ServiceStatus(
        environment=found.environment,
        digest=found.release,
        state=found.state,
        healthy=found.healthy,
        pid=found.pid,
        port=found.port,
        restarts=found.restarts,
        started_at=found.started_at,
    )
