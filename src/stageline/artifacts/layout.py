"""Lay out an artifact folder: the app tree under ``app/``, bundle entries under ``bundle/``."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from stageline.errors import BuildError

#: never shipped: interpreter caches hold absolute paths and timestamps
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")
_GLOB_CHARS = frozenset("*?[")


def copy_tree(source: Path, dest: Path) -> None:
    """Copy ``source`` into ``dest`` (symlinks followed, caches left out)."""
    shutil.copytree(
        source, dest, ignore=_IGNORE, symlinks=False, ignore_dangling_symlinks=True,
        dirs_exist_ok=True,
    )  # fmt: skip


def bundle_matches(root: Path, entry: str) -> list[Path]:
    """The files and folders a bundle entry (a path or a glob) names below ``root``."""
    if _GLOB_CHARS & set(entry):
        return sorted(root.glob(entry))
    path = root / entry
    return [path] if path.exists() else []


def copy_bundle(root: Path, entries: Sequence[str], dest: Path) -> None:
    """Copy each bundle entry, keeping its relative path; BuildError if one matches nothing."""
    missing = [entry for entry in entries if not bundle_matches(root, entry)]
    if missing:
        raise BuildError(
            f"bundle entry {missing[0]!r} matches nothing in the built tree"
            + (f" (nor do {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else ""),
            hint="bundle paths are relative to the repository root; is the file committed?",
        )
    for entry in entries:
        for match in bundle_matches(root, entry):
            target = dest / match.relative_to(root)
            if match.is_dir():
                copy_tree(match, target)
            elif not _IGNORE(str(match.parent), [match.name]):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(match, target)
