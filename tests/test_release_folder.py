"""Sealed release folders (targets/release_folder.py) on real files: read-only, recorded,
and every kind of change named, by the full check and by the fast one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stageline.host import release_folder


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    root = tmp_path / "releases" / "0123456789ab"
    (root / "venv" / "lib").mkdir(parents=True)
    (root / "venv" / "lib" / "mod.py").write_text("VALUE = 1\n")
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text("print('hi')\n")
    os.symlink("main.py", root / "app" / "alias.py")
    release_folder.seal(root)
    return root


def _edit(path: Path, text: str) -> None:
    path.chmod(0o644)
    path.write_text(text)


def test_sealing_removes_every_write_bit_and_records_beside_the_folder(sealed: Path) -> None:
    for path in (sealed, sealed / "venv", sealed / "venv" / "lib" / "mod.py"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path
    assert release_folder.record_path(sealed).parent == sealed.parent
    assert release_folder.check(sealed, full=True) is None
    assert release_folder.check(sealed, full=False) is None


@pytest.mark.parametrize("full", [True, False])
def test_an_edit_with_the_same_size_and_mtime_is_still_found(sealed: Path, full: bool) -> None:
    target = sealed / "venv" / "lib" / "mod.py"
    before = target.stat()
    _edit(target, "VALUE = 2\n")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    assert target.stat().st_size == before.st_size
    assert release_folder.check(sealed, full=full) == "changed: venv/lib/mod.py"


@pytest.mark.parametrize("full", [True, False])
def test_added_removed_and_relinked_files_are_named(sealed: Path, full: bool) -> None:
    (sealed / "app").chmod(0o755)
    (sealed / "app" / "extra.py").write_text("import os\n")
    assert release_folder.check(sealed, full=full) == "added: app/extra.py"
    (sealed / "app" / "extra.py").unlink()
    os.unlink(sealed / "app" / "alias.py")
    os.symlink("/etc/passwd", sealed / "app" / "alias.py")
    assert release_folder.check(sealed, full=full) == "changed: app/alias.py"
    os.unlink(sealed / "app" / "alias.py")
    assert release_folder.check(sealed, full=full) == "removed: app/alias.py"


def test_a_chmod_alone_is_not_a_change(sealed: Path) -> None:
    (sealed / "app" / "main.py").chmod(0o644)  # moves the ctime: the fast check hashes it
    assert release_folder.check(sealed, full=False) is None


def test_a_sealed_folder_is_removed_whole_with_its_record(sealed: Path) -> None:
    release_folder.remove(sealed)
    assert not sealed.exists() and not release_folder.record_path(sealed).exists()
