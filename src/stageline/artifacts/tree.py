"""Hash a folder's files and judge it against its manifest, never following a link
(the walking and hashing are ``stageline.host.files``'s).

A symbolic link is an entry of its own (its text hashed, ``FileEntry.link``); a link to a
folder is not walked through; a special file (device, FIFO, socket) is refused, since
reading one may never end.
"""

from __future__ import annotations

from pathlib import Path

from stageline.artifacts.manifest import MANIFEST_NAME, FileEntry, Manifest
from stageline.host import files


def tree_paths(root: Path, *, skip: frozenset[str] = frozenset({MANIFEST_NAME})) -> list[str]:
    """Every file and link below ``root`` but the manifest (or ``skip``)."""
    return files.tree_paths(root, skip=skip)


def entry_for(root: Path, relative: str) -> FileEntry:
    """The manifest entry of one file or link below ``root``; UnsafeTree for anything else."""
    found = files.hash_entry(root, relative)
    return FileEntry(path=found.path, sha256=found.sha256, size=found.size, link=found.link)


def hash_tree(root: Path) -> list[FileEntry]:
    """One entry per file or link below ``root``, sorted by path (what goes into the
    manifest)."""
    return [entry_for(root, relative) for relative in tree_paths(root)]


def verify_tree(root: Path, manifest: Manifest) -> list[str]:
    """Problems between the files under ``root`` and ``manifest.files``; [] when they agree.

    Each problem names a path: ``changed: PATH``, ``added: PATH`` or ``removed: PATH``.
    """
    return files.compare_entries(root, manifest.files, tree_paths(root))


def tree_size(root: Path) -> int:
    return sum((root / relative).lstat().st_size for relative in files.tree_paths(root))
