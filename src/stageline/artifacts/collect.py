"""Copy a built tree into an artifact without trusting it.

The exported commit was checked on extraction (``untar.py``), but build steps run in it
afterwards and may leave anything behind. Every entry is judged from ``lstat``, never by
following a link:

- a folder is walked (a link to a folder is never walked through);
- a regular file is copied through a descriptor opened with ``O_NOFOLLOW``, counting its
  bytes against the caps as they are written, so a file that grows cannot fill the disk;
- a symbolic link is kept as a link (its text, unchanged) when it resolves inside the
  tree to a regular file or a folder; a dangling link is left out, as before;
- anything else is refused, naming the file: a link out of the tree or to a special
  file, a device, a FIFO, a socket.

Caches (``__pycache__``, ``*.pyc``) are never shipped: they hold absolute paths and times.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from stageline.errors import UnsafeTree

_CHUNK = 1 << 20
_MB = 1 << 20
_SKIPPED = ("__pycache__", "*.pyc")


@dataclass
class Caps:
    """Size caps of one artifact, in bytes, and what was counted against them so far."""

    file_bytes: int
    total_bytes: int
    counted: int = field(default=0)

    @classmethod
    def megabytes(cls, file_mb: int, total_mb: int) -> Caps:
        return cls(file_mb * _MB, total_mb * _MB)

    def count(self, relative: str, size: int) -> None:
        """Add ``size`` bytes of ``relative`` (its size so far); UnsafeTree past a cap."""
        if size > self.file_bytes:
            raise UnsafeTree(
                relative,
                f"it is larger than the cap of {self.file_bytes // _MB} MB per file",
                hint="raise `max_file_mb` in the [service] table of stageline.toml "
                "if the file belongs in the artifact",
            )
        if self.counted + size > self.total_bytes:
            raise UnsafeTree(
                relative,
                f"the artifact would pass its cap of {self.total_bytes // _MB} MB in all",
                hint="raise `max_artifact_mb` in the [service] table of stageline.toml "
                "if the artifact really is that large",
            )

    def add(self, relative: str, size: int) -> None:
        """Count a whole file of ``size`` bytes for good."""
        self.count(relative, size)
        self.counted += size


def skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in _SKIPPED)


def link_refusal(link: Path, top: Path) -> str | None:
    """Why the link ``link`` may not be kept (None: keep it); ``top`` is the tree's root.
    A dangling link inside the tree gives ``"dangling"`` (left out, not refused)."""
    real_top = os.path.realpath(top)
    target = os.path.realpath(link)
    if os.path.commonpath([real_top, target]) != real_top:
        return f"it links out of the tree (to {os.readlink(link)})"
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return "dangling"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"it links to a special file (to {os.readlink(link)})"
    return None


def copy_tree(source: Path, dest: Path, caps: Caps, *, top: Path, label: str = "") -> None:
    """Copy ``source`` into ``dest`` under the rules above; links are judged against
    ``top`` (the whole built tree) and files named ``label`` + their path in ``source``."""
    dest.mkdir(parents=True, exist_ok=True)
    with os.scandir(source) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if skipped(entry.name):
                continue
            copy_entry(Path(entry.path), dest / entry.name, caps, top=top,
                       label=f"{label}{entry.name}")  # fmt: skip


def copy_entry(path: Path, target: Path, caps: Caps, *, top: Path, label: str) -> None:
    """Copy one file, link or folder (see the module docstring); UnsafeTree names ``label``."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        reason = link_refusal(path, top)
        if reason == "dangling":
            return
        if reason is not None:
            raise UnsafeTree(label, reason)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.readlink(path), target)
    elif stat.S_ISDIR(mode):
        copy_tree(path, target, caps, top=top, label=f"{label}/")
    elif stat.S_ISREG(mode):
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_file(path, target, caps, label)
    else:
        raise UnsafeTree(label, "it is a special file (device, FIFO, socket)")


def _copy_file(path: Path, target: Path, caps: Caps, label: str) -> None:
    written = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src, target.open("wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            caps.count(label, written)
            out.write(chunk)
    caps.add(label, written)
    os.chmod(target, stat.S_IMODE(os.stat(path).st_mode) & 0o755)
