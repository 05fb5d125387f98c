"""Verification names every changed, added or removed file; the store finds artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.artifacts import ArtifactStore, BuildResult, FileEntry, verify_tree
from stageline.errors import ArtifactNotFound, ArtifactTampered, UsageError


def tampered(store: ArtifactStore, digest: str) -> list[str]:
    with pytest.raises(ArtifactTampered) as caught:
        store.verify(digest)
    assert caught.value.digest == digest
    return caught.value.problems


def test_an_untouched_artifact_verifies(app_copy: BuildResult, store: ArtifactStore) -> None:
    store.verify(app_copy.digest)
    assert verify_tree(app_copy.path, app_copy.manifest) == []


def test_one_changed_byte_in_a_wheel_is_named(app_copy: BuildResult, store: ArtifactStore) -> None:
    wheel = next((app_copy.path / "wheels").glob("six-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[100] ^= 0x01
    wheel.write_bytes(bytes(data))
    assert tampered(store, app_copy.digest) == [f"changed: wheels/{wheel.name}"]


def test_an_added_file_is_named(app_copy: BuildResult, store: ArtifactStore) -> None:
    (app_copy.path / "app" / "evil.py").write_text("import os\n")
    assert tampered(store, app_copy.digest) == ["added: app/evil.py"]


def test_a_removed_bundle_file_is_named(app_copy: BuildResult, store: ArtifactStore) -> None:
    (app_copy.path / "bundle" / "conf" / "app.ini").unlink()
    assert tampered(store, app_copy.digest) == ["removed: bundle/conf/app.ini"]


def test_every_problem_is_reported(app_copy: BuildResult, store: ArtifactStore) -> None:
    (app_copy.path / "app" / "evil.py").write_text("import os\n")
    (app_copy.path / "app" / "app.py").write_text("changed\n")
    (app_copy.path / "bundle" / "conf" / "app.ini").unlink()
    assert tampered(store, app_copy.digest) == [
        "changed: app/app.py",
        "added: app/evil.py",
        "removed: bundle/conf/app.ini",
    ]


def test_an_edited_manifest_is_refused(app_copy: BuildResult, store: ArtifactStore) -> None:
    path = app_copy.path / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"1.0.0"', b'"1.0.1"'))
    problems = tampered(store, app_copy.digest)
    assert len(problems) == 1 and problems[0].startswith("changed: manifest.json")


def test_a_missing_manifest_is_refused(app_copy: BuildResult, store: ArtifactStore) -> None:
    (app_copy.path / "manifest.json").unlink()
    assert tampered(store, app_copy.digest) == ["removed: manifest.json"]


def test_load_list_and_resolve(app_copy: BuildResult, store: ArtifactStore) -> None:
    digest = app_copy.digest
    assert store.has(digest)
    assert store.load(digest) == (digest, app_copy.manifest)
    assert store.load(digest.removeprefix("sha256:"))[0] == digest
    assert [(a.digest, a.path) for a in store.list()] == [(digest, app_copy.path)]
    assert store.resolve(digest) == digest
    assert store.resolve(digest[7:19]) == digest
    assert store.resolve("sha256:" + digest[7:15].upper()) == digest
    assert store.resolve("v1.0.0") == digest


def test_unknown_digests_are_not_found(store: ArtifactStore) -> None:
    assert not store.has("sha256:" + "0" * 64)
    assert store.list() == []
    with pytest.raises(ArtifactNotFound):
        store.resolve("abcd")
    with pytest.raises(ArtifactNotFound):
        store.load("sha256:" + "0" * 64)
    with pytest.raises(ArtifactNotFound):
        store.verify("sha256:" + "0" * 64)
    with pytest.raises(ArtifactNotFound):
        store.path_for("not-a-digest")


def test_an_ambiguous_prefix_is_a_usage_error(store: ArtifactStore) -> None:
    for hexpart in ("abcd" + "0" * 60, "abcd" + "1" * 60):
        (store.root / hexpart).mkdir(parents=True)
    with pytest.raises(UsageError, match="matches 2 artifacts"):
        store.resolve("abcd")


def test_verify_tree_judges_a_plain_folder(tmp_path: Path, built_app: BuildResult) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "a.whl").write_bytes(b"abc")
    entry = FileEntry(
        path="wheels/a.whl",
        sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        size=3,
    )
    manifest = built_app.manifest.model_copy(update={"files": [entry]})
    assert verify_tree(tmp_path, manifest) == []
    (tmp_path / "manifest.json").write_text("{}")  # the manifest itself is not listed
    assert verify_tree(tmp_path, manifest) == []
    (tmp_path / "wheels" / "a.whl").write_bytes(b"abd")
    assert verify_tree(tmp_path, manifest) == ["changed: wheels/a.whl"]
