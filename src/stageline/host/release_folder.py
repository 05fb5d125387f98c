"""Prepared release folders are sealed: read-only, and their files recorded and checked.

A release folder (``envs/<env>/releases/<digest12>/``: the virtualenv, the app or bundle,
the runtime helper) is made from a verified artifact, then *sealed*: every file and
folder loses its write bits, and every file's hash (a link's text) is recorded beside it
in ``<digest12>.tree.json`` together with its ``lstat`` key (inode, size, mode, mtime and
ctime in ns). Two checks read the record:

- ``check(root, full=True)`` hashes every file (deploy, promote, rollback, gates and
  probes that reuse a folder; it is the "verifying every file" step's second half);
- ``check(root, full=False)`` runs before every start of a service (``stageline.launch``,
  so the agent's restarts of a crashed service too) and hashes only files whose key
  changed. That is safe: writing a file's bytes sets its ctime to the current time, and
  ctime cannot be set back by a process (only by moving the system clock, which needs
  root), so an edited file never keeps its key; renames and new links show as added,
  removed or changed paths.

Read-only stops accidents and other users; the owner (or root) can still write, which
the record catches. Bytecode is compiled before sealing and services run with
``PYTHONDONTWRITEBYTECODE=1``, so nothing needs to write into a sealed folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from stageline.host.files import Hashed, compare_entries, hash_entry, tree_paths

_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True)
class Recorded:
    """A file of a sealed folder: its manifest-style entry and its ``lstat`` key."""

    entry: Hashed
    key: tuple[int, ...]


def record_path(root: Path) -> Path:
    return root.with_name(root.name + ".tree.json")


def _key(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_ino, info.st_size, info.st_mode, info.st_mtime_ns, info.st_ctime_ns)


def seal(root: Path) -> None:
    """Make ``root`` read-only, then record every file below it (the record is written
    last, atomically: a folder without one is not sealed)."""
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            path = Path(folder) / name
            info = path.lstat()
            if not stat.S_ISLNK(info.st_mode):
                os.chmod(path, stat.S_IMODE(info.st_mode) & ~_WRITE)
    os.chmod(root, stat.S_IMODE(root.stat().st_mode) & ~_WRITE)
    rows = []
    for relative in tree_paths(root):
        entry = hash_entry(root, relative)
        rows.append([entry.path, entry.sha256, entry.size, entry.link,
                     *_key((root / relative).lstat())])  # fmt: skip
    record = record_path(root)
    temp = record.with_name(record.name + ".tmp")
    temp.write_text(json.dumps({"files": rows}, separators=(",", ":")), encoding="utf-8")
    temp.replace(record)


def is_sealed(root: Path) -> bool:
    return record_path(root).is_file()


def _recorded(root: Path) -> list[Recorded]:
    rows = json.loads(record_path(root).read_text(encoding="utf-8"))["files"]
    return [Recorded(Hashed(row[0], row[1], row[2], row[3]), tuple(row[4:])) for row in rows]


def check(root: Path, *, full: bool) -> str | None:
    """The first difference between ``root`` and its record (``changed: PATH``, ``added:
    PATH``, ``removed: PATH``), or None. ``full`` hashes every file; otherwise only the
    files whose ``lstat`` key differs from the record are hashed."""
    recorded = _recorded(root)
    present = tree_paths(root)
    if full:
        suspects = [r.entry for r in recorded]
    else:
        suspects = [r.entry for r in recorded if not _same_key(root / r.entry.path, r.key)]
        unchanged = {r.entry.path for r in recorded} - {e.path for e in suspects}
        present = [p for p in present if p not in unchanged]
    problems = compare_entries(root, suspects, present)
    return problems[0] if problems else None


def _same_key(path: Path, key: tuple[int, ...]) -> bool:
    try:
        return _key(path.lstat()) == key
    except FileNotFoundError:
        return False


def remove(root: Path) -> None:
    """Delete a (sealed) release folder and its record: write bits are given back first,
    since a folder without them cannot be emptied by its owner."""
    if root.is_dir() and not root.is_symlink():
        os.chmod(root, stat.S_IMODE(root.stat().st_mode) | stat.S_IWUSR)
        for folder, dirs, _files in os.walk(root):
            for name in dirs:
                path = Path(folder) / name
                if not path.is_symlink():
                    os.chmod(path, stat.S_IMODE(path.lstat().st_mode) | stat.S_IWUSR)
        shutil.rmtree(root, ignore_errors=True)
    record_path(root).unlink(missing_ok=True)


def writable(root: Path) -> None:
    """Give the owner write access throughout ``root`` (a scratch copy of a sealed folder)."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink():
                os.chmod(path, stat.S_IMODE(path.lstat().st_mode) | stat.S_IWUSR)
    os.chmod(root, stat.S_IMODE(root.stat().st_mode) | stat.S_IWUSR)
