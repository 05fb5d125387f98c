"""Builds fail loudly and precisely: a failing step, an unknown ref, a missing bundle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from artifact_helpers import APP_FILES, RepoFactory

from stageline.artifacts import ArtifactStore, build
from stageline.artifacts.deps import poetry_requirements
from stageline.artifacts.package import service_kind
from stageline.errors import BuildError, GitError


def with_toml(extra: str) -> dict[str, str]:
    return {**APP_FILES, "stageline.toml": APP_FILES["stageline.toml"] + extra}


@pytest.mark.slow
def test_a_failing_build_step_names_the_step_and_keeps_the_log(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    toml = APP_FILES["stageline.toml"].replace(
        'build = ["python tools/collect.py static"]',
        'build = ["echo collecting; echo boom >&2; exit 3"]',
    )
    repo = repo_factory({**APP_FILES, "stageline.toml": toml})
    with pytest.raises(BuildError) as caught:
        build(repo, "v1.0.0", store)
    assert "echo boom" in str(caught.value) and "exit 3" in str(caught.value)
    assert caught.value.log_tail.splitlines() == ["collecting", "boom"]
    assert store.list() == []
    assert list((store.root / ".tmp").iterdir()) == []


@pytest.mark.slow
def test_a_bundle_entry_matching_nothing_is_named(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    toml = APP_FILES["stageline.toml"].replace('"migrations/"', '"migrations/", "alembic.ini"')
    repo = repo_factory({**APP_FILES, "stageline.toml": toml})
    with pytest.raises(BuildError, match=re.escape("'alembic.ini' matches nothing")):
        build(repo, "v1.0.0", store)


def test_an_unknown_ref_lists_recent_tags(repo_factory: RepoFactory, store: ArtifactStore) -> None:
    repo = repo_factory(APP_FILES)
    with pytest.raises(GitError, match=re.escape("unknown git ref 'v9.9.9'")) as caught:
        build(repo, "v9.9.9", store)
    assert caught.value.hint == "recent tags: v1.0.0"


def test_a_folder_that_is_no_repository(tmp_path: Path, store: ArtifactStore) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        build(tmp_path, "v1.0.0", store)


def test_a_missing_explicit_lock_is_a_build_error(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    repo = repo_factory(with_toml('lock = "missing.lock"\n'))
    with pytest.raises(BuildError, match=re.escape("'missing.lock'")):
        build(repo, "v1.0.0", store)


POETRY_LOCK = """
[[package]]
name = "six"
version = "1.16.0"
optional = false
groups = ["main"]

[[package]]
name = "pytest"
version = "8.0.0"
groups = ["dev"]

[[package]]
name = "colorama"
version = "0.4.6"
groups = ["main", "dev"]
markers = {main = "sys_platform == \\"win32\\"", dev = "sys_platform == \\"win32\\""}

[[package]]
name = "idna"
version = "3.7"
category = "main"

[[package]]
name = "black"
version = "24.1.0"
category = "dev"
"""


def test_poetry_lock_main_group_becomes_pins() -> None:
    assert poetry_requirements(POETRY_LOCK) == [
        'colorama==0.4.6 ; sys_platform == "win32"',
        "idna==3.7",
        "six==1.16.0",
    ]


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({}, "app"),
        ({"setup.py": ""}, "package"),
        ({"pyproject.toml": '[project]\nname = "a"\n'}, "app"),
        ({"pyproject.toml": '[project]\nname = "a"\n[build-system]\n'}, "package"),
        (
            {"pyproject.toml": '[project]\nname="a"\n[build-system]\n[tool.uv]\npackage=false\n'},
            "app",
        ),
        ({"pyproject.toml": '[project]\nname = "a"\n[tool.uv]\npackage = true\n'}, "package"),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n"}, "app"),
    ],
)
def test_service_kind(tmp_path: Path, files: dict[str, str], kind: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert service_kind(tmp_path) == kind
