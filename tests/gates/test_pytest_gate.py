"""The ``pytest`` gate: a suite in a bundle, run against the real test service."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

from stageline.gates.base import GateContext
from stageline.gates.pytest_gate import PytestGate, PytestOptions, read_junit

from .conftest import MakeContext, Service

PASSING = """
def test_products(stageline_http):
    response = stageline_http.get("/products")
    assert response.status_code == 200
    assert response.json()["items"][0]["sku"] == "TEA-001"


def test_environment(stageline_environment, stageline_url):
    assert stageline_environment == "staging"
    assert stageline_url.startswith("http://127.0.0.1:")
"""

FAILING = """
def test_products(stageline_http):
    assert stageline_http.get("/products").status_code == 200


def test_boom(stageline_http):
    assert stageline_http.get("/boom").status_code == 200


def test_database(database_url):
    pass
"""


def bundle_with(ctx: GateContext, source: str) -> None:
    tests = ctx.bundle / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "test_gate_suite.py").write_text(source, encoding="utf-8")


def test_passing_suite(make_context: MakeContext, service: Service) -> None:
    ctx = make_context(service.url)
    bundle_with(ctx, PASSING)
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "passed", result.evidence["output"]
    assert result.summary == "2 passed, 0 failed, 0 errors"
    assert result.evidence["tests"] == 2
    assert result.report == ctx.evidence_dir / "pytest.xml"
    assert "note" not in result.evidence


def test_failing_suite_names_the_failures(make_context: MakeContext, service: Service) -> None:
    ctx = make_context(service.url)
    bundle_with(ctx, FAILING)
    result = PytestGate().run(ctx, PytestOptions(args=["-q"]))
    assert result.status == "failed"
    ev = result.evidence
    assert (ev["tests"], ev["failures"], ev["errors"], ev["skipped"]) == (3, 1, 1, 0)
    assert sorted(ev["failing"]) == [
        "tests.test_gate_suite::test_boom",
        "tests.test_gate_suite::test_database",
    ]
    assert result.summary.startswith("1 passed, 1 failed, 1 errors: ")
    assert "DATABASE_URL is not set" in ev["output"]
    assert any("test_boom" in line and "assert 500 == 200" in line for line in ev["excerpt"])
    assert result.report is not None and read_junit(result.report).tests == 3


def test_no_tests_collected(make_context: MakeContext, service: Service) -> None:
    ctx = make_context(service.url)
    (ctx.bundle / "tests").mkdir()
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "failed"
    assert result.summary == "no tests collected in tests"


def test_missing_test_folder(make_context: MakeContext) -> None:
    result = PytestGate().run(make_context(), PytestOptions(path="gate_tests"))
    assert result.status == "failed"
    assert result.summary == "no tests: gate_tests is not in the bundle"


def _venv(where: Path, site_packages: str | None) -> str:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    if site_packages:  # pytest and httpx from ours, but not stageline (an editable .pth)
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        Path(purelib, "borrowed.pth").write_text(site_packages + "\n", encoding="utf-8")
    return str(python)


def test_release_without_pytest_says_to_declare_its_tests(
    make_context: MakeContext, service: Service, tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", None)
    ctx = make_context(service.url, python=python)
    bundle_with(ctx, PASSING)
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "error"  # no silent fallback to stageline's Python
    assert result.summary.startswith(f"the release's Python ({python}) cannot import pytest")
    assert "[service.tests]" in result.summary and "python = 'stageline'" in result.summary

    chosen = PytestGate().run(ctx, PytestOptions(python="stageline"))  # said explicitly
    assert chosen.status == "passed", chosen.evidence["output"]
    assert chosen.evidence["python"] == sys.executable


def test_release_with_pytest_but_no_stageline(
    make_context: MakeContext, service: Service, tmp_path: Path
) -> None:
    python = _venv(tmp_path / "venv", sysconfig.get_paths()["purelib"])
    ctx = make_context(service.url, python=python)
    bundle_with(ctx, PASSING)
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "passed", result.evidence["output"]
    assert result.evidence["python"] == python
    assert (ctx.evidence_dir / ".stageline-plugin" / "stageline" / "pytest_plugin.py").is_file()


def test_only_the_newest_gate_virtualenvs_are_kept(tmp_path: Path) -> None:
    import os

    from stageline.gates.pytest_gate import KEEP_VENVS, _prune

    for age, name in enumerate(["a", "b", "c", "d", "e"]):
        ready = tmp_path / name / ".ready"
        ready.parent.mkdir()
        ready.write_text("sha256:x\n")
        os.utime(ready, (1_000_000 - age, 1_000_000 - age))  # "a" is the newest
    (tmp_path / "half-made").mkdir()  # no .ready: another run is making it
    _prune(tmp_path, keep=tmp_path / "e")
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == ["a", "b", "e", "half-made"] and KEEP_VENVS == 3
