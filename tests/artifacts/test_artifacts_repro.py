"""The same commit builds the same digest, wherever it is cloned; a rebuild is reused."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_helpers import APP_FILES, PACKAGE_FILES, git, make_repo

from stageline.artifacts import ArtifactStore, build

pytestmark = pytest.mark.slow


def test_two_clones_build_identical_digests(tmp_path: Path) -> None:
    origin = make_repo(tmp_path / "origin", PACKAGE_FILES)
    digests = []
    for name in ("clone-a", "deeper/clone-b"):
        clone = tmp_path / name
        clone.parent.mkdir(parents=True, exist_ok=True)
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        store = ArtifactStore(tmp_path / f"store-{name.replace('/', '-')}")
        digests.append(build(clone, "v1.0.0", store).digest)
    assert digests[0] == digests[1]
    assert digests[0].startswith("sha256:") and len(digests[0]) == 7 + 64


def test_second_build_of_the_same_tag_is_reused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", APP_FILES)
    store = ArtifactStore(tmp_path / "store")
    first = build(repo, "v1.0.0", store)
    steps: list[str] = []
    second = build(repo, "v1.0.0", store, progress=steps.append)
    assert second.reused and not first.reused
    assert second.digest == first.digest
    assert second.path == first.path
    assert not any("build step" in step or "collecting" in step for step in steps)
    assert [a.digest for a in store.list()] == [first.digest]


def test_a_damaged_artifact_is_rebuilt_not_reused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", APP_FILES)
    store = ArtifactStore(tmp_path / "store")
    first = build(repo, "v1.0.0", store)
    (first.path / "app" / "evil.py").write_text("print('owned')\n")
    second = build(repo, "v1.0.0", store)
    assert not second.reused
    assert second.digest == first.digest
    store.verify(second.digest)
    assert not (second.path / "app" / "evil.py").exists()
