"""Hash a folder's files and judge it against its manifest, never following a link.

A symbolic link is an entry of its own (its text hashed, ``FileEntry.link``); a link to a
folder is not walked through; a special file (device, FIFO, socket) is refused, since
reading one may never end.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from stageline.artifacts.manifest import MANIFEST_NAME, FileEntry, Manifest
from stageline.errors import UnsafeTree

_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_paths(root: Path, *, skip: frozenset[str] = frozenset({MANIFEST_NAME})) -> list[str]:
    """Every file and link below ``root`` (posix, relative, sorted), except ``skip``;
    links to folders are listed, not walked through."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        names = files + [name for name in dirs if (here / name).is_symlink()]
        for name in names:
            relative = (here / name).relative_to(root).as_posix()
            if relative not in skip:
                found.append(relative)
    return sorted(found)


def entry_for(root: Path, relative: str) -> FileEntry:
    """The manifest entry of one file or link below ``root``; UnsafeTree for anything else."""
    path = root / relative
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        text = os.readlink(path)
        data = text.encode()
        return FileEntry(path=relative, sha256=hashlib.sha256(data).hexdigest(),
                         size=len(data), link=text)  # fmt: skip
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeTree(relative, "it is a special file (device, FIFO, socket)")
    return FileEntry(path=relative, sha256=file_sha256(path), size=info.st_size)


def hash_tree(root: Path) -> list[FileEntry]:
    """One entry per file or link below ``root``, sorted by path (what goes into the
    manifest)."""
    return [entry_for(root, relative) for relative in tree_paths(root)]


def verify_tree(root: Path, manifest: Manifest) -> list[str]:
    """Problems between the files under ``root`` and ``manifest.files``; [] when they agree.

    Each problem names a path: ``changed: PATH``, ``added: PATH`` or ``removed: PATH``.
    """
    return compare_entries(root, manifest.files, tree_paths(root))


def compare_entries(root: Path, expected: list[FileEntry], present: list[str]) -> list[str]:
    """Problems between ``expected`` entries and the ``present`` paths below ``root``."""
    wanted = {entry.path: entry for entry in expected}
    there = set(present)
    problems = []
    for relative in sorted(there | wanted.keys()):
        entry = wanted.get(relative)
        if entry is None:
            problems.append(f"added: {relative}")
        elif relative not in there:
            problems.append(f"removed: {relative}")
        elif not _matches(root / relative, entry):
            problems.append(f"changed: {relative}")
    return problems


def _matches(path: Path, entry: FileEntry) -> bool:
    info = path.lstat()
    if entry.link is not None:
        return stat.S_ISLNK(info.st_mode) and os.readlink(path) == entry.link
    if not stat.S_ISREG(info.st_mode):
        return False
    return info.st_size == entry.size and file_sha256(path) == entry.sha256


def tree_size(root: Path) -> int:
    return sum((root / relative).lstat().st_size for relative in tree_paths(root, skip=frozenset()))
