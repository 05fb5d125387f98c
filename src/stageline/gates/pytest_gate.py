"""Kind ``pytest``: the release's own test suite, run against the deployed service.

Runs ``<python> -m pytest <bundle>/<path> --junitxml=<evidence>/pytest.xml`` with the
``stageline.pytest_plugin`` fixtures (``stageline_url``, ``stageline_http``, ...), in the
bundle folder, with the service's variables plus ``STAGELINE_URL``. The verdict comes
from the exit code, the JUnit report and pytest's own words (``gates/pytest_report.py``:
the failing tests and their assertion lines are in the summary and the evidence).

Which Python: when the artifact has a test layer (``[service.tests]``,
``artifacts/testlayer.py``), a virtualenv of the gate's own holding the release and the
test dependencies, installed offline from the artifact (once per digest, under
``.stageline/test-venvs/``), never the release's; the layer's test paths are laid over a
scratch copy of the bundle. Without one, the release's virtualenv, which must then
import pytest: if it cannot, the gate says so and how to declare ``[service.tests]``
(``python = "stageline"`` runs stageline's own Python, explicitly).

``database``: where the suite's own database connections go. ``"copy"`` (the default
when the environment has PostgreSQL): a scratch copy made by
``stageline.rehearsal.isolation.isolate``, with the variables re-resolved against it, its own
role, a scratch copy of the bundle, and ``stageline.rehearsal.tripwire`` watching the live
database (a session of the suite there, or a change of its schema, fails the gate with
"the test suite reached the live database"). The deployed service, reached over HTTP,
still uses its own database. ``"live"``: the suite gets the live database, as the
service does; an explicit choice, stated in the summary and the evidence.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from stageline.artifacts import testlayer
from stageline.artifacts.install import offline_env, requirements_of
from stageline.artifacts.manifest import MANIFEST_NAME, parse_manifest
from stageline.artifacts.testlayer import TestLayer
from stageline.config.resolve import PostgresFacts
from stageline.errors import ReachesLive
from stageline.gates.base import GateContext, GateOptions, GateResult, one_line, tail, timed_out
from stageline.gates.pytest_report import Counts, excerpt, judge, missing_module, read_junit
from stageline.host.release_folder import writable

if TYPE_CHECKING:
    from stageline.rehearsal.isolation import Isolated

#: the application name the suite's database sessions carry (PGAPPNAME)
APPLICATION = "stageline-pytest-gate"

_PROBE = (
    "import importlib.util as u\n"
    "print('pytest', u.find_spec('pytest') is not None)\n"
    "try:\n"
    "    print('plugin', u.find_spec('stageline.pytest_plugin') is not None)\n"
    "except ImportError:\n"
    "    print('plugin', False)\n"
)


class PytestOptions(GateOptions):
    #: the test folder or file, inside the bundle
    path: str = "tests"
    args: list[str] = Field(default_factory=list)
    #: "release": the release's virtualenv if it has pytest; "stageline": stageline's own
    python: Literal["release", "stageline"] = "release"
    #: "copy": an isolated scratch copy (default with PostgreSQL); "live": the live database
    database: Literal["copy", "live"] | None = None

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"expected a path inside the bundle, got {value!r}")
        return value


__all__ = ["Counts", "PytestGate", "PytestOptions", "judge", "read_junit"]

#: the gate's virtualenvs (release + test layer), one per digest, under ``.stageline``;
#: the newest KEEP_VENVS are kept (made again, offline, if an older digest comes back)
TEST_VENVS = "test-venvs"
KEEP_VENVS = 3
_READY = ".ready"


class Refused(Exception):
    """The suite cannot run as configured (the message says why and what to do)."""


@dataclass
class Interpreter:
    python: str
    plugin_path: Path | None  # a folder to put on PYTHONPATH so the plugin imports


class PytestGate:
    Options = PytestOptions

    def run(self, ctx: GateContext, options: PytestOptions) -> GateResult:
        opts = PytestOptions.model_validate(options)
        started = time.monotonic()
        layer = testlayer.read(ctx.artifact)
        if not _has_tests(ctx.bundle, layer, opts.path):
            where = "the bundle" + (" nor in the test layer" if layer else "")
            return GateResult("failed", f"no tests: {opts.path} is not in {where}", 0.0, {})
        has_database = ctx.environment.postgres is not None and "DATABASE_URL" in ctx.variables
        database = opts.database or ("copy" if has_database else None)
        if database == "copy" and not has_database:
            message = f"database = 'copy': {ctx.environment.name} has no PostgreSQL database"
            return GateResult("error", message, 0.0, {})
        if database != "copy":
            with _suite_folder(ctx.bundle, layer) as workdir:
                result = self._suite(ctx, opts, layer, workdir, ctx.service_env(), started)
            if database == "live":
                live = "against the live database (database = 'live')"
                evidence = {**result.evidence, "database": live}
                return replace(result, summary=f"{result.summary} ({live})", evidence=evidence)
            return result
        return self._on_copy(ctx, opts, layer, started)

    def _on_copy(
        self, ctx: GateContext, opts: PytestOptions, layer: TestLayer | None, started: float
    ) -> GateResult:
        """The suite on an isolated copy of the environment's database, under the tripwire."""
        # here, not at the top: `stageline check` validates options without psycopg
        from stageline.rehearsal.isolation import isolate
        from stageline.rehearsal.tripwire import guard

        live = PostgresFacts.from_url(ctx.variables["DATABASE_URL"])
        admin_url = ctx.targets.admin_url(ctx.environment.name)
        with isolate(
            ctx.environment, live, ctx.variables, release_dir=ctx.bundle, admin_url=admin_url
        ) as iso:
            try:
                iso.refuse_if_aimed("the test suite", ctx.environment.name)
            except ReachesLive as refused:  # nothing runs: the variables name live data
                aimed: dict[str, Any] = {"message": str(refused), "aimed": iso.aimed}
                took = time.monotonic() - started
                return GateResult("failed", str(refused), took, {"tripwire": aimed})
            if layer is not None:
                _lay_over(layer, iso.workdir)
            env = ctx.service_env({**iso.variables, "PGAPPNAME": APPLICATION})
            with guard(
                iso, what="the test suite", environment=ctx.environment.name,
                applications={APPLICATION}, pids=ctx.processes.live,
            ) as watch:  # fmt: skip
                result = self._suite(ctx, opts, layer, iso.workdir, env, started)
                watch.read_output(str(result.evidence.get("output", "")))
            where = _copy_note(iso)
        evidence = {**result.evidence, "database": where, "tripwire": watch.evidence()}
        if watch.message:
            return replace(result, status="failed", summary=watch.message, evidence=evidence)
        return replace(result, evidence=evidence)

    def _suite(
        self,
        ctx: GateContext,
        opts: PytestOptions,
        layer: TestLayer | None,
        workdir: Path,
        env: dict[str, str],
        started: float,
    ) -> GateResult:
        """Run the suite in ``workdir`` with ``env``; judged from its JUnit report."""
        try:
            interp = self._interpreter(ctx, opts, layer)
        except Refused as refused:
            return GateResult("error", str(refused), time.monotonic() - started, _layer(layer))
        if interp is None:
            return timed_out(time.monotonic() - started)
        report = ctx.evidence_dir / "pytest.xml"
        argv = [
            interp.python, "-m", "pytest", str(workdir / opts.path), f"--junitxml={report}",
            "-p", "no:cacheprovider", "-rfE",
            # the pytest11 entry point registers the plugin as "stageline"; registering
            # the same module under a second name would abort pytest
            "-p", "no:stageline", "-p", "stageline.pytest_plugin",
            *opts.args,
        ]  # fmt: skip
        extra = {"PYTHONDONTWRITEBYTECODE": "1"}
        if interp.plugin_path:
            previous = env.get("PYTHONPATH")
            extra["PYTHONPATH"] = ":".join(filter(None, [str(interp.plugin_path), previous]))
        ctx.log(f"running {' '.join(argv)}")
        outcome = ctx.run_process(argv, cwd=workdir, env={**env, **extra})
        said = excerpt(outcome.output)
        evidence: dict[str, Any] = {
            "argv": argv, "python": interp.python, "exit_code": outcome.returncode,
            "output": tail(outcome.output), "excerpt": said, **_layer(layer),
        }  # fmt: skip
        if outcome.returncode is None:
            return timed_out(time.monotonic() - started, evidence)
        counts = read_junit(report) if report.is_file() else None
        if counts:
            evidence.update(tests=counts.tests, failures=counts.failures, errors=counts.errors)
            evidence.update(skipped=counts.skipped, failing=counts.failing)
        status, summary = judge(outcome.returncode, counts, opts.path, said)
        if status != "passed":
            summary += _missing_hint(outcome.output, layer)
        duration = time.monotonic() - started
        return GateResult(status, summary, duration, evidence, report if counts else None)

    def _interpreter(
        self, ctx: GateContext, opts: PytestOptions, layer: TestLayer | None
    ) -> Interpreter | None:
        """Which Python runs the suite, and how it finds the plugin; None if out of time.
        Refused when that Python cannot import pytest (see the module docstring)."""
        if opts.python == "stageline":
            return Interpreter(sys.executable, None)
        python = _gate_venv(ctx, layer) if layer is not None else ctx.python
        if python is None:
            return None
        probe = ctx.run_process([python, "-c", _PROBE], env=ctx.service_env())
        if probe.returncode is None:
            return None
        found = dict(line.split(" ", 1) for line in probe.output.splitlines() if " " in line)
        if probe.returncode != 0 or found.get("pytest") != "True":
            raise Refused(_no_pytest(python, layer))
        if found.get("plugin") == "True":
            return Interpreter(python, None)
        # the suite's virtualenv lacks stageline: give it a copy of the plugin, and of the
        # runtime helper the service's own code imports (``stageline.runtime``, which a
        # release gets from the host), since this ``stageline`` package comes first
        folder = ctx.evidence_dir / ".stageline-plugin" / "stageline"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("", encoding="utf-8")
        spec = importlib.util.find_spec("stageline.pytest_plugin")
        assert spec is not None and spec.origin is not None
        shutil.copyfile(spec.origin, folder / "pytest_plugin.py")
        helper = importlib.util.find_spec("stageline.runtime")
        assert helper is not None and helper.origin is not None
        shutil.copytree(Path(helper.origin).parent, folder / "runtime", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        return Interpreter(python, folder.parent)


def _has_tests(bundle: Path, layer: TestLayer | None, path: str) -> bool:
    return (bundle / path).exists() or (layer is not None and (layer.files / path).exists())


@contextlib.contextmanager
def _suite_folder(bundle: Path, layer: TestLayer | None) -> Iterator[Path]:
    """``bundle`` itself, or (with a test layer) a scratch copy with the layer's test
    paths laid over it, removed afterwards."""
    if layer is None:
        yield bundle
        return
    parent = Path(tempfile.mkdtemp(prefix="stageline-tests-"))
    try:
        folder = parent / bundle.name
        shutil.copytree(bundle, folder, symlinks=True)
        writable(folder)
        _lay_over(layer, folder)
        yield folder
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _lay_over(layer: TestLayer, folder: Path) -> None:
    """Copy the layer's test paths into ``folder`` (a scratch copy of the bundle)."""
    if layer.files.is_dir():
        shutil.copytree(layer.files, folder, symlinks=True, dirs_exist_ok=True)
        writable(folder)


def _gate_venv(ctx: GateContext, layer: TestLayer) -> str | None:
    """The python of the gate's virtualenv for this digest (release + test layer), made
    now if no earlier run made it; None if out of time; Refused if it cannot be made."""
    assert ctx.artifact is not None  # a layer was read from it
    venv = ctx.home / TEST_VENVS / ctx.digest.removeprefix("sha256:")[:12]
    if (venv / _READY).is_file():
        return str(venv / "bin" / "python")
    partial = venv.with_name(f"{venv.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    manifest = parse_manifest((ctx.artifact / MANIFEST_NAME).read_bytes())
    release = requirements_of(manifest, ctx.artifact / "wheels")
    ctx.log(f"installing the test layer ({layer.source}) into {venv}")
    for argv in testlayer.install_argv(ctx.artifact, layer, partial, python=ctx.python,
                                       release=release):  # fmt: skip
        outcome = ctx.run_process(argv, env=offline_env())
        if outcome.returncode is None:
            shutil.rmtree(partial, ignore_errors=True)
            return None
        if outcome.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise Refused(
                f"installing the test layer ({layer.source}) offline failed: "
                + (one_line(tail(outcome.output, 5)) or f"exit {outcome.returncode}")
            )
    (partial / _READY).write_text(ctx.digest + "\n", encoding="utf-8")
    try:
        partial.rename(venv)
    except OSError:  # another run made it meanwhile: theirs is as good
        shutil.rmtree(partial, ignore_errors=True)
    _prune(venv.parent, keep=venv)
    return str(venv / "bin" / "python")


def _prune(folder: Path, *, keep: Path) -> None:
    """Remove the made virtualenvs of ``folder`` beyond the newest :data:`KEEP_VENVS`."""
    made = sorted(
        (path for path in folder.iterdir() if (path / _READY).is_file() and path != keep),
        key=lambda path: (path / _READY).stat().st_mtime,
        reverse=True,
    )
    for old in made[KEEP_VENVS - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _no_pytest(python: str, layer: TestLayer | None) -> str:
    if layer is not None:
        return (
            f"the test layer ([service.tests] {layer.source}) has no pytest; "
            "add pytest to those test dependencies and rebuild"
        )
    return (
        f"the release's Python ({python}) cannot import pytest and the artifact has no "
        "test layer; declare the service's test dependencies in [service.tests] (extra = "
        "'test', group = 'dev' or requirements = 'requirements-dev.txt') and rebuild, "
        "or set python = 'stageline' on this gate to use stageline's own Python"
    )


def _missing_hint(output: str, layer: TestLayer | None) -> str:
    """What to do when the suite failed on a module its Python lacks ('' otherwise)."""
    module = missing_module(output)
    if module is None:
        return ""
    if layer is not None:
        return f"; the test layer lacks {module!r}: add it to [service.tests] {layer.source}"
    return (
        f"; the release lacks {module!r}: declare the test dependencies in [service.tests] "
        "so the build collects them"
    )


def _layer(layer: TestLayer | None) -> dict[str, Any]:
    if layer is None:
        return {}
    return {"test_layer": {"source": layer.source, "pinned_from": layer.pinned_from,
                           "pins": layer.pins}}  # fmt: skip


def _copy_note(iso: Isolated) -> str:
    return (
        f"a scratch copy of {iso.live.database} ({iso.how}), as role {iso.copy.user} that "
        "owns only the copy; dropped afterwards"
    )
