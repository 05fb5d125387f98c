"""Extract a tar archive without trusting it, the same way on every Python stageline runs on.

``TarFile.extractall(filter=...)`` arrived in Python 3.11.4 (Debian 12 has 3.11.2), so the
checks are stageline's own and run on every version. Every member is judged before
anything is written, so a refused archive writes nothing:

- a name must be relative, without ``..`` components, and must not lead through a link
  of the archive (nothing is written through a link);
- a symbolic link must be relative and resolve inside the tree; a hard link must name a
  path inside the tree that leads through no link;
- regular files, directories and links only: devices, FIFOs and other special files are
  refused;
- modes keep only ``0o755`` (no setuid, setgid, sticky, group or other write), as the
  standard library's ``tar`` filter does, so a tree extracts with the same modes on every
  Python and an artifact's digest does not depend on the Python that built it.
"""

from __future__ import annotations

import copy
import posixpath
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from stageline.errors import UnsafeArchive

KEPT_MODE = 0o755


def _escapes(path: str) -> bool:
    """True when ``path`` is absolute or climbs with ``..`` (judged as written, not resolved)."""
    pure = PurePosixPath(path)
    return pure.is_absolute() or ".." in pure.parts


def _through_link(path: str, links: set[str], *, itself: bool = False) -> bool:
    """True when a parent of ``path`` (or, with ``itself``, the path) is a link of the archive."""
    pure = PurePosixPath(posixpath.normpath(path))
    return any(str(step) in links for step in ((pure,) if itself else ()) + tuple(pure.parents))


def refusal(member: tarfile.TarInfo, links: set[str]) -> str | None:
    """Why ``member`` may not be extracted, or None; ``links`` names every link member.

    Pure: judges names only, never the file system.
    """
    name = member.name
    if _escapes(name):
        return "its path is absolute or climbs out with '..'"
    if _through_link(name, links):
        return "its path leads through a link"
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if PurePosixPath(member.linkname).is_absolute() or _escapes(target):
            return f"it links out of the tree (to {member.linkname})"
    elif member.islnk():
        if _escapes(member.linkname) or _through_link(member.linkname, links, itself=True):
            return f"it is a hard link out of the tree or to a link (to {member.linkname})"
    elif not (member.isreg() or member.isdir()):
        return "it is a special file (device, FIFO...)"
    return None


def checked(members: Iterable[tarfile.TarInfo]) -> list[tarfile.TarInfo]:
    """Copies of ``members`` with modes limited to ``KEPT_MODE``; UnsafeArchive on the first
    member that may not be extracted."""
    members = list(members)
    links = {
        posixpath.normpath(member.name) for member in members if member.issym() or member.islnk()
    }
    kept = []
    for member in members:
        reason = refusal(member, links)
        if reason is not None:
            raise UnsafeArchive(member.name, reason)
        safe = copy.copy(member)
        safe.mode = member.mode & KEPT_MODE
        kept.append(safe)
    return kept


def extract(archive: tarfile.TarFile, dest: Path) -> None:
    """Extract every member of ``archive`` under ``dest`` (created if missing), or nothing:
    UnsafeArchive names the first member refused and why."""
    members = checked(archive.getmembers())
    dest.mkdir(parents=True, exist_ok=True)
    if hasattr(tarfile, "fully_trusted_filter"):  # 3.11.4+: ours are the checks, say so
        archive.extractall(dest, members=members, filter="fully_trusted")
    else:
        archive.extractall(dest, members=members)
