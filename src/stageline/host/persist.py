"""Folders a service keeps per environment across releases (``[service] persist``).

A release folder is sealed read-only (``release_folder.py``), and each release has its
own, so a service that writes uploads or sessions into its working folder would lose
them on every switch. Each ``persist`` entry (a folder relative to the working folder)
therefore lives outside every release, in the environment's own
``envs/<env>/persist/<entry>/``, and the release folder holds a **symbolic link** in its
place, made before the folder is sealed. The link is relative (``../../../persist/...``),
so a ``.stageline`` folder moved whole keeps working. Release folders are per
environment, so the link names that environment's folder and no other: two environments
never share one, and the sealed record keeps the link text (a changed link fails the
start check).

- First use: the persistent folder is created, and seeded with what the release ships
  at that place (e.g. a ``.gitkeep`` or default files); later releases never overwrite it.
- A scratch copy of a release folder (isolated gates, rehearsal) gets an empty folder in
  place of each link (:func:`detach`): release code run on a copy never writes the
  environment's live files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path


def persist_root(environment_folder: Path) -> Path:
    """Where an environment's persistent folders live (``envs/<env>/persist``)."""
    return environment_folder / "persist"


def link(workdir: Path, root: Path, entries: Sequence[str]) -> None:
    """Put a link to ``root/<entry>`` at ``workdir/<entry>`` for each entry (the release
    folder is not sealed yet); a persistent folder made now is seeded with what the
    release had there."""
    for entry in entries:
        kept, place = root / entry, workdir / entry
        if not kept.is_dir():
            kept.parent.mkdir(parents=True, exist_ok=True)
            if place.is_dir() and not place.is_symlink():
                shutil.copytree(place, kept, symlinks=True)
            else:
                kept.mkdir()
        if place.is_symlink() or place.is_file():
            place.unlink()
        elif place.is_dir():
            shutil.rmtree(place)
        place.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(kept, place.parent), place)


def detach(copy: Path) -> list[str]:
    """In a scratch copy of a release folder, replace every link that leads out of the
    copy to a folder, or to nothing (a persistent folder's relative link, moved with the
    copy), by an empty folder; returns their paths (relative). Links to files (the
    virtualenv's ``python``) are kept."""
    replaced = []
    inside = copy.resolve()
    for folder, dirs, files in os.walk(copy):
        for name in dirs + files:
            path = Path(folder) / name
            if not path.is_symlink() or path.resolve().is_relative_to(inside):
                continue
            if path.is_dir() or not path.exists():
                path.unlink()
                path.mkdir()
                replaced.append(path.relative_to(copy).as_posix())
    return replaced
