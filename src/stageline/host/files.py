"""Walk, hash and compare a folder's files without following a link (a leaf: no pydantic).

Artifacts (``artifacts/tree.py``) and sealed release folders (``host/release_folder.py``)
judge folders the same way; this module is that way. It imports nothing heavier than
the standard library, because the launcher checks a sealed folder before every start
of a service, and that start should not pay for a model library.

A symbolic link is an entry of its own (its text hashed); a link to a folder is listed,
not walked through; a special file (device, FIFO, socket) is refused, since reading one
may never end.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stageline.errors import UnsafeTree

_CHUNK = 1 << 20


class Entry(Protocol):
    """What a folder's record says of one file (a manifest's ``FileEntry`` is one)."""

    @property
    def path(self) -> str: ...  # posix, relative to the folder
    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def link(self) -> str | None: ...  # a link's text (sha256 and size are the text's)


@dataclass(frozen=True)
class Hashed:
    """One file or link as found on disk."""

    path: str
    sha256: str
    size: int
    link: str | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_paths(root: Path, *, skip: frozenset[str] = frozenset()) -> list[str]:
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


def hash_entry(root: Path, relative: str) -> Hashed:
    """One file or link below ``root``, hashed; UnsafeTree for anything else."""
    path = root / relative
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        text = os.readlink(path)
        data = text.encode()
        return Hashed(relative, hashlib.sha256(data).hexdigest(), len(data), text)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeTree(relative, "it is a special file (device, FIFO, socket)")
    return Hashed(relative, file_sha256(path), info.st_size)


def compare_entries(root: Path, expected: Sequence[Entry], present: list[str]) -> list[str]:
    """Problems between ``expected`` entries and the ``present`` paths below ``root``:
    ``changed: PATH``, ``added: PATH`` or ``removed: PATH``; [] when they agree."""
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


def _matches(path: Path, entry: Entry) -> bool:
    info = path.lstat()
    if entry.link is not None:
        return stat.S_ISLNK(info.st_mode) and os.readlink(path) == entry.link
    if not stat.S_ISREG(info.st_mode):
        return False
    return info.st_size == entry.size and file_sha256(path) == entry.sha256
