"""Judging a pytest run: its JUnit report, its exit code, and its own words.

Pure functions over what the run left (``gates/pytest_gate.py`` runs it): the counts and
failing test names of the JUnit XML (:func:`read_junit`), the lines of pytest's output a
person needs to see why (:func:`excerpt`: the short summary's ``FAILED``/``ERROR`` lines
and the ``E`` lines of the assertions), and the verdict (:func:`judge`). A run that
left no report (a usage error, an import error while collecting) is judged from the
output's first error, never as a bare exit code.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from stageline.values import GateStatus

#: lines of pytest's output kept in the evidence (``failures``)
EXCERPT_LINES = 20
_SUMMARY = re.compile(r"^(FAILED|ERROR) ")
_ASSERTION = re.compile(r"^E\s{2,}\S")
_USAGE = re.compile(r"^(ERROR|ImportError|ModuleNotFoundError|[A-Za-z]+Error)\b.*:")
_MISSING = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


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


def excerpt(output: str, limit: int = EXCERPT_LINES) -> list[str]:
    """The lines of pytest's ``output`` that say what failed: the short test summary
    (``FAILED tests/test_x.py::test_y - assert 1 == 2``) then the assertion and error
    (``E``) lines; else the error lines of a run that collected nothing (a usage error);
    at most ``limit``."""
    lines = [line.rstrip() for line in output.splitlines()]
    found = [line.strip() for line in lines if _SUMMARY.match(line)]
    found += [line.strip() for line in lines if _ASSERTION.match(line)]
    found = found or [line.strip() for line in lines if _USAGE.match(line)]
    return found[:limit]


def headline(said: list[str]) -> str | None:
    """The one line that best says why (``assert 500 == 200``, ``ModuleNotFoundError:
    No module named 'x'``) out of an :func:`excerpt`; None for an empty one."""
    for line in said:
        head, sep, rest = line.partition(" - ")
        if sep and _SUMMARY.match(head + " "):
            return rest
    for line in said:
        if _ASSERTION.match(line):
            return line.removeprefix("E").strip()
    return said[0] if said else None


def missing_module(output: str) -> str | None:
    """The module a ``ModuleNotFoundError`` in ``output`` names, if any."""
    match = _MISSING.search(output)
    return match.group(1) if match else None


def judge(
    returncode: int, counts: Counts | None, path: str, said: list[str]
) -> tuple[GateStatus, str]:
    """(status, summary) from pytest's exit code, the report's counts and ``said`` (its
    output's :func:`excerpt`)."""
    if returncode == 5:
        return "failed", f"no tests collected in {path}"
    why = headline(said)
    first = f": {why}" if why else ""
    if counts is None:
        return "error", f"pytest exited {returncode} without a report{first}"
    passed = counts.tests - counts.failures - counts.errors - counts.skipped
    tally = f"{passed} passed, {counts.failures} failed, {counts.errors} errors"
    tally += f", {counts.skipped} skipped" if counts.skipped else ""
    if returncode == 0 and not counts.failures and not counts.errors:
        return "passed", tally
    if returncode in (0, 1, 2) or counts.failures or counts.errors:
        shown = ", ".join(counts.failing[:3])
        more = f" (+{len(counts.failing) - 3} more)" if len(counts.failing) > 3 else ""
        detail = f": {shown}{more}" if shown else f" (pytest exit {returncode})"
        reason = f" ({why})" if why and shown else ""
        return "failed", tally + detail + reason
    return "error", f"pytest exited {returncode} ({tally}){first}"
