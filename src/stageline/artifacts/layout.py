"""Lay out an artifact folder: the app tree under ``app/``, bundle entries under ``bundle/``.

Copies go through ``collect.py``: links out of the tree and special files are refused,
links inside are kept as links, and every byte counts against the artifact's caps.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from stageline.artifacts.collect import Caps, copy_entry, copy_tree, skipped
from stageline.errors import BuildError, UnsafeTree

_GLOB_CHARS = frozenset("*?[")

__all__ = ["Caps", "bundle_matches", "copy_bundle", "copy_tree"]


def bundle_matches(root: Path, entry: str) -> list[Path]:
    """The files and folders a bundle entry (a path or a glob) names below ``root``."""
    if _GLOB_CHARS & set(entry):
        return sorted(root.glob(entry))
    path = root / entry
    return [path] if path.exists() or path.is_symlink() else []


def copy_bundle(root: Path, entries: Sequence[str], dest: Path, caps: Caps) -> None:
    """Copy each bundle entry, keeping its relative path; BuildError if one matches nothing,
    UnsafeTree if one leads out of the tree."""
    missing = [entry for entry in entries if not bundle_matches(root, entry)]
    if missing:
        raise BuildError(
            f"bundle entry {missing[0]!r} matches nothing in the built tree"
            + (f" (nor do {', '.join(map(repr, missing[1:]))})" if len(missing) > 1 else ""),
            hint="bundle paths are relative to the service's folder (the repository's top "
            "unless [service] root says otherwise); is the file committed?",
        )
    real_root = os.path.realpath(root)
    for entry in entries:
        for match in bundle_matches(root, entry):
            relative = match.relative_to(root)
            parent = os.path.realpath(match.parent)
            if os.path.commonpath([real_root, parent]) != real_root:
                raise UnsafeTree(
                    relative.as_posix(), "its path leads through a link out of the tree"
                )
            if not skipped(match.name):
                copy_entry(match, dest / relative, caps, top=root, label=relative.as_posix())
