"""Persist folders (host/persist.py) on real files: linked into a release folder that is
then sealed, kept across releases, seeded once, and detached in a scratch copy."""

from __future__ import annotations

import shutil
from pathlib import Path

from stageline.host import persist, release_folder
from stageline.rehearsal.isolation import scratch_folder


def release(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    root = tmp_path / "envs" / "staging" / "releases" / name
    for relative, text in files.items():
        (root / "app" / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / "app" / relative).write_text(text)
    (root / "app").mkdir(parents=True, exist_ok=True)
    return root


def test_a_persist_folder_outlives_releases_and_keeps_the_seal(tmp_path: Path) -> None:
    kept = persist.persist_root(tmp_path / "envs" / "staging")
    one = release(tmp_path, "one", {"main.py": "", "uploads/.keep": "seed"})
    persist.link(one / "app", kept, ["uploads", "var/sessions"])
    release_folder.seal(one)
    (one / "app" / "uploads" / "photo.jpg").write_text("bytes")  # the service writes
    (one / "app" / "var" / "sessions" / "s1").write_text("x")
    assert release_folder.check(one, full=True) is None  # writes land outside the release
    assert (kept / "uploads" / ".keep").read_text() == "seed"

    two = release(tmp_path, "two", {"main.py": "", "uploads/.keep": "new seed"})
    persist.link(two / "app", kept, ["uploads", "var/sessions"])
    release_folder.seal(two)
    assert sorted(p.name for p in (two / "app" / "uploads").iterdir()) == [".keep", "photo.jpg"]
    assert (two / "app" / "uploads" / ".keep").read_text() == "seed"  # never overwritten
    assert (two / "app" / "var" / "sessions" / "s1").is_file()
    release_folder.remove(one)
    assert (kept / "uploads" / "photo.jpg").is_file()  # removing a release keeps the data


def test_a_scratch_copy_gets_empty_folders_not_the_live_ones(tmp_path: Path) -> None:
    kept = persist.persist_root(tmp_path / "envs" / "staging")
    one = release(tmp_path, "one", {"main.py": ""})
    persist.link(one / "app", kept, ["uploads"])
    (kept / "uploads" / "live.txt").write_text("live")
    release_folder.seal(one)
    copy = scratch_folder(one)
    try:
        assert not (copy / "app" / "uploads").is_symlink()
        assert list((copy / "app" / "uploads").iterdir()) == []
        (copy / "app" / "uploads" / "gate.txt").write_text("scratch")
        assert sorted(p.name for p in (kept / "uploads").iterdir()) == ["live.txt"]
    finally:
        shutil.rmtree(copy.parent)
