"""``[service.tests]`` and where the test layer's requirements come from (no build)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.artifacts.testlayer import _requirements, read
from stageline.config.model import ServiceTests
from stageline.errors import BuildError

PYPROJECT = """\
[project]
name = "tally"
version = "0.1.0"
[project.optional-dependencies]
test = ["pytest>=8"]
[dependency-groups]
lint = ["ruff"]
dev = ["pytest>=8", {include-group = "lint"}]
"""


@pytest.mark.parametrize(
    "raw",
    [{}, {"extra": "test", "group": "dev"}, {"extra": "test", "paths": ["../up"]},
     {"requirements": "/etc/passwd"}, {"extra": "test", "paths": []}],
)  # fmt: skip
def test_exactly_one_source_and_paths_inside(raw: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ServiceTests.model_validate(raw)


def test_the_source_as_the_docs_spell_it() -> None:
    tests = ServiceTests(group="dev")
    assert tests.source() == "group = 'dev'" and tests.paths == ["tests"]


def test_extras_and_groups_with_includes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    assert _requirements(tmp_path, ServiceTests(extra="test"), tmp_path) == (["pytest>=8"], None)
    assert _requirements(tmp_path, ServiceTests(group="dev"), tmp_path) == (
        ["pytest>=8", "ruff"],
        None,
    )


def test_a_name_that_is_not_declared(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    with pytest.raises(BuildError, match=r"'tests', which pyproject.toml's \[project.optional"):
        _requirements(tmp_path, ServiceTests(extra="tests"), tmp_path)
    with pytest.raises(BuildError, match=r"requirements-dev.txt' is not in the commit"):
        _requirements(tmp_path, ServiceTests(requirements="requirements-dev.txt"), tmp_path)


def test_an_artifact_without_a_layer(tmp_path: Path) -> None:
    assert read(tmp_path) is None and read(None) is None
