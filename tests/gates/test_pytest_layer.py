"""The ``pytest`` gate runs a service's own tests from its artifact's test layer: a real
build of a tiny package with a ``test`` extra, then the gate, offline, in a virtualenv
of its own (the release's stays without pytest), reused by the next run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stageline.artifacts import ArtifactStore, build, install
from stageline.gates.pytest_gate import TEST_VENVS, PytestGate, PytestOptions
from tests.artifacts.artifact_helpers import make_repo

from .conftest import MakeContext

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "tally"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["six==1.16.0"]

[project.optional-dependencies]
test = ["pytest>=8", "iniconfig"]

[tool.setuptools.packages.find]
where = ["src"]

[tool.stageline.service]
name = "tally"
start = "python -m tally"

[tool.stageline.service.tests]
extra = "test"
paths = ["tests"]
"""

FILES = {
    "pyproject.toml": PYPROJECT,
    "src/tally/__init__.py": "import six\n\n\ndef total(items):\n    return sum(items) - 1\n",
    "tests/test_tally.py": (
        "import iniconfig\n\nfrom tally import total\n\n\n"
        "def test_empty():\n    assert total([1]) == 0\n\n\n"
        "def test_total_adds_up():\n    assert total([1, 2]) == 3\n"
    ),
}


def imports_pytest(python: Path) -> bool:
    done = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.slow
def test_the_services_own_tests_from_the_test_layer(
    tmp_path: Path, make_context: MakeContext
) -> None:
    built = build(make_repo(tmp_path / "repo", FILES), "v1.0.0", ArtifactStore(tmp_path / "s"))
    layer = json.loads((built.path / "tests" / "layer.json").read_text())
    assert layer["source"] == "extra = 'test'" and layer["paths"] == ["tests"]
    assert any(pin.startswith("pytest==") for pin in layer["pins"])
    assert {"tests/layer.json", "tests/files/tests/test_tally.py"} <= {
        entry.path for entry in built.manifest.files
    }  # the digest covers the layer
    assert "pytest" not in {pin.name for pin in built.manifest.pins}
    install(built.path, tmp_path / "release-venv")  # what a deploy installs
    release_python = tmp_path / "release-venv" / "bin" / "python"
    assert not imports_pytest(release_python)

    logged: list[str] = []
    ctx = make_context(python=str(release_python), artifact=built.path, digest=built.digest,
                       home=tmp_path / "home", log=logged.append)  # fmt: skip
    first = PytestGate().run(ctx, PytestOptions(path="tests"))
    second = PytestGate().run(ctx, PytestOptions(path="tests"))

    assert first.status == "failed", first.evidence["output"]
    assert "test_tally::test_total_adds_up" in first.summary  # pytest's own words
    assert "assert 2 == 3" in first.summary
    assert any("assert 2 == 3" in line for line in first.evidence["excerpt"])
    assert first.evidence["test_layer"]["source"] == "extra = 'test'"
    venv = tmp_path / "home" / TEST_VENVS / built.digest.removeprefix("sha256:")[:12]
    assert first.evidence["python"] == str(venv / "bin" / "python")
    assert (second.status, second.summary) == (first.status, first.summary)
    assert sum("installing the test layer" in line for line in logged) == 1  # reused
    assert not imports_pytest(release_python)  # never installed into the release's venv
