"""Hash an artifact folder's files and judge it against its manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stageline.artifacts.manifest import MANIFEST_NAME, FileEntry, Manifest

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_paths(root: Path) -> list[str]:
    """Every file below ``root`` (posix, relative, sorted), except the manifest itself."""
    found = []
    for path in root.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(root).as_posix()
        if relative != MANIFEST_NAME:
            found.append(relative)
    return sorted(found)


def hash_tree(root: Path) -> list[FileEntry]:
    """One entry per file below ``root``, sorted by path (what goes into the manifest)."""
    entries = []
    for relative in tree_paths(root):
        path = root / relative
        entries.append(
            FileEntry(path=relative, sha256=file_sha256(path), size=path.lstat().st_size)
        )
    return entries


def verify_tree(root: Path, manifest: Manifest) -> list[str]:
    """Problems between the files under ``root`` and ``manifest.files``; [] when they agree.

    Each problem names a path: ``changed: PATH``, ``added: PATH`` or ``removed: PATH``.
    """
    expected = {entry.path: entry for entry in manifest.files}
    present = set(tree_paths(root))
    problems = []
    for relative in sorted(present | expected.keys()):
        entry = expected.get(relative)
        if entry is None:
            problems.append(f"added: {relative}")
        elif relative not in present:
            problems.append(f"removed: {relative}")
        elif not _matches(root / relative, entry):
            problems.append(f"changed: {relative}")
    return problems


def _matches(path: Path, entry: FileEntry) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    return path.stat().st_size == entry.size and file_sha256(path) == entry.sha256


def tree_size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink())
