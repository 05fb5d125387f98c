"""Kind ``pytest``: the release's own test suite, run against the deployed service.

Runs ``<python> -m pytest <bundle>/<path> --junitxml=<evidence>/pytest.xml`` with the
``stageline.pytest_plugin`` fixtures (``stageline_url``, ``stageline_http``, ...), in the
bundle folder, with the service's variables plus ``STAGELINE_URL``. The verdict comes
from the exit code and the JUnit report.

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

import importlib.util
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from stageline.config.resolve import PostgresFacts
from stageline.errors import ReachesLive
from stageline.gates.base import (
    GateContext,
    GateOptions,
    GateResult,
    GateStatus,
    tail,
    timed_out,
)

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


@dataclass
class Counts:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    failing: list[str] = field(default_factory=list)


def read_junit(report: Path) -> Counts:
    """Totals and failing test names (``classname::name``) from a JUnit XML report."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = Counts()
    for suite in suites:
        counts.tests += int(suite.get("tests", 0))
        counts.failures += int(suite.get("failures", 0))
        counts.errors += int(suite.get("errors", 0))
        counts.skipped += int(suite.get("skipped", 0))
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                counts.failing.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return counts


def judge(returncode: int, counts: Counts | None, path: str) -> tuple[GateStatus, str]:
    """(status, summary) from pytest's exit code and the report's counts."""
    if returncode == 5:
        return "failed", f"no tests collected in {path}"
    if counts is None:
        return "error", f"pytest exited {returncode} without a report"
    passed = counts.tests - counts.failures - counts.errors - counts.skipped
    tally = f"{passed} passed, {counts.failures} failed, {counts.errors} errors"
    tally += f", {counts.skipped} skipped" if counts.skipped else ""
    if returncode == 0 and not counts.failures and not counts.errors:
        return "passed", tally
    if returncode in (0, 1, 2) or counts.failures or counts.errors:
        shown = ", ".join(counts.failing[:3])
        more = f" (+{len(counts.failing) - 3} more)" if len(counts.failing) > 3 else ""
        detail = f": {shown}{more}" if shown else f" (pytest exit {returncode})"
        return "failed", tally + detail
    return "error", f"pytest exited {returncode} ({tally})"


@dataclass
class Interpreter:
    python: str
    plugin_path: Path | None  # a folder to put on PYTHONPATH so the plugin imports
    note: str | None


class PytestGate:
    Options = PytestOptions

    def run(self, ctx: GateContext, options: PytestOptions) -> GateResult:
        opts = PytestOptions.model_validate(options)
        started = time.monotonic()
        if not (ctx.bundle / opts.path).exists():
            return GateResult("failed", f"no tests: {opts.path} is not in the bundle", 0.0, {})
        has_database = ctx.environment.postgres is not None and "DATABASE_URL" in ctx.variables
        database = opts.database or ("copy" if has_database else None)
        if database == "copy" and not has_database:
            message = f"database = 'copy': {ctx.environment.name} has no PostgreSQL database"
            return GateResult("error", message, 0.0, {})
        if database != "copy":
            result = self._suite(ctx, opts, ctx.bundle, ctx.service_env(), started)
            if database == "live":
                live = "against the live database (database = 'live')"
                evidence = {**result.evidence, "database": live}
                return replace(result, summary=f"{result.summary} ({live})", evidence=evidence)
            return result
        return self._on_copy(ctx, opts, started)

    def _on_copy(self, ctx: GateContext, opts: PytestOptions, started: float) -> GateResult:
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
            env = ctx.service_env({**iso.variables, "PGAPPNAME": APPLICATION})
            with guard(
                iso, what="the test suite", environment=ctx.environment.name,
                applications={APPLICATION}, pids=ctx.processes.live,
            ) as watch:  # fmt: skip
                result = self._suite(ctx, opts, iso.workdir, env, started)
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
        workdir: Path,
        env: dict[str, str],
        started: float,
    ) -> GateResult:
        """Run the suite in ``workdir`` with ``env``; judged from its JUnit report."""
        target = workdir / opts.path
        interp = self._interpreter(ctx, opts)
        if interp is None:
            return timed_out(time.monotonic() - started)
        report = ctx.evidence_dir / "pytest.xml"
        argv = [
            interp.python, "-m", "pytest", str(target), f"--junitxml={report}",
            "-p", "no:cacheprovider",
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
        evidence: dict[str, Any] = {
            "argv": argv, "python": interp.python, "exit_code": outcome.returncode,
            "output": tail(outcome.output),
        }  # fmt: skip
        if interp.note:
            evidence["note"] = interp.note
        if outcome.returncode is None:
            return timed_out(time.monotonic() - started, evidence)
        counts = read_junit(report) if report.is_file() else None
        if counts:
            evidence.update(tests=counts.tests, failures=counts.failures, errors=counts.errors)
            evidence.update(skipped=counts.skipped, failing=counts.failing)
        status, summary = judge(outcome.returncode, counts, opts.path)
        duration = time.monotonic() - started
        return GateResult(status, summary, duration, evidence, report if counts else None)

    def _interpreter(self, ctx: GateContext, opts: PytestOptions) -> Interpreter | None:
        """Which Python runs the suite, and how it finds the plugin; None if out of time."""
        if opts.python == "stageline":
            return Interpreter(sys.executable, None, None)
        probe = ctx.run_process([ctx.python, "-c", _PROBE], env=ctx.service_env())
        if probe.returncode is None:
            return None
        found = dict(line.split(" ", 1) for line in probe.output.splitlines() if " " in line)
        if probe.returncode != 0 or found.get("pytest") != "True":
            note = f"{ctx.python} cannot import pytest; used stageline's {sys.executable}"
            ctx.log(note)
            return Interpreter(sys.executable, None, note)
        if found.get("plugin") == "True":
            return Interpreter(ctx.python, None, None)
        # the release's virtualenv lacks stageline: give it a copy of the plugin alone
        folder = ctx.evidence_dir / ".stageline-plugin" / "stageline"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text("", encoding="utf-8")
        spec = importlib.util.find_spec("stageline.pytest_plugin")
        assert spec is not None and spec.origin is not None
        shutil.copyfile(spec.origin, folder / "pytest_plugin.py")
        return Interpreter(ctx.python, folder.parent, None)


def _copy_note(iso: Isolated) -> str:
    return (
        f"a scratch copy of {iso.live.database} ({iso.how}), as role {iso.copy.user} that "
        "owns only the copy; dropped afterwards"
    )
