"""Fixtures for the artifact tests: real git repositories, real pip and uv.

Downloads go through pip's and uv's own caches (left on), so each wheel is fetched
once per machine, not once per test.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from artifact_helpers import APP_FILES, UNREACHABLE, RepoFactory, make_repo

from stageline.artifacts import ArtifactStore, BuildResult, build


@pytest.fixture
def repo_factory(tmp_path: Path) -> RepoFactory:
    def factory(files: dict[str, str], tag: str | None = "v1.0.0", name: str = "repo") -> Path:
        return make_repo(tmp_path / name, files, tag)

    return factory


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


@pytest.fixture
def go_offline(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to make every package index unreachable, as on a deploy host."""

    def apply() -> None:
        for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
            monkeypatch.setenv(name, UNREACHABLE)
        monkeypatch.setenv("UV_OFFLINE", "1")
        monkeypatch.setenv("PIP_NO_INDEX", "1")
        for name in ("UV_EXTRA_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
            monkeypatch.delenv(name, raising=False)

    return apply


@pytest.fixture(scope="session")
def built_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuildResult]:
    """One app-tree artifact, built once per session; tests copy it before touching it."""
    base = tmp_path_factory.mktemp("built-app")
    repo = make_repo(base / "repo", APP_FILES)
    yield build(repo, "v1.0.0", ArtifactStore(base / "store"))
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def app_copy(built_app: BuildResult, store: ArtifactStore) -> BuildResult:
    """A private copy of the session's app artifact in this test's own store."""
    target = store.path_for(built_app.digest)
    shutil.copytree(built_app.path, target)
    return BuildResult(built_app.digest, built_app.manifest, target, built_app.size_bytes)
