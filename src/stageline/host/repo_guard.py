"""Keeping ``.stageline/`` out of the service's git repository.

``.stageline/`` holds the state store, sealed secrets and the passwords of every
environment's database; it must never be committed. Two guards:

- :func:`ignore_home` adds the folder to the repository's top-level ``.gitignore``
  (created or appended, once), called by ``stageline init`` and by the first command
  that creates the folder (:meth:`stageline.usecases.pipeline.Session.open`);
- :func:`refuse_tracked_home` stops a build while any file under the folder is tracked.

Outside a git repository (or with the folder moved out of it by ``STAGELINE_HOME``)
both do nothing.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

from stageline.errors import Refused


class Notice(UserWarning):
    """Something the library did on its own that a person should hear about (one line).
    The CLI shows these as step lines; a library caller may filter them as it likes."""


def notify(message: str) -> None:
    warnings.warn(message, Notice, stacklevel=2)


def make_home(root: Path, home: Path) -> None:
    """Create ``home`` if it is missing; a new one is git-ignored at once (and said so)."""
    if home.is_dir():
        return
    home.mkdir(parents=True, exist_ok=True)
    added = ignore_home(root, home)
    if added:
        notify(added)


def git_toplevel(folder: Path) -> Path | None:
    """The top of the git repository `folder` is in (resolved), None outside one."""
    probe = folder if folder.is_dir() else folder.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(probe), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:  # no git here: nothing can be committed by it either
        return None
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def ignore_line(toplevel: Path, home: Path) -> str | None:
    """The ``.gitignore`` line that keeps ``home`` out of the repository at ``toplevel``,
    or None when ``home`` is not inside it."""
    try:
        relative = home.resolve().relative_to(toplevel)
    except ValueError:
        return None
    return ".stageline/" if home.name == ".stageline" else f"/{relative.as_posix()}/"


def ignore_home(root: Path, home: Path) -> str | None:
    """Add ``home`` to the ``.gitignore`` of the repository ``root`` is in, once.

    Returns a line saying what was done, or None when nothing was needed (not in a git
    repository, the folder outside it, or the line already there).
    """
    toplevel = git_toplevel(root)
    if toplevel is None:
        return None
    line = ignore_line(toplevel, home)
    if line is None:
        return None
    gitignore = toplevel / ".gitignore"
    text = gitignore.read_text(encoding="utf-8") if gitignore.is_file() else ""
    if line in (entry.strip() for entry in text.splitlines()):
        return None
    separator = "" if not text or text.endswith("\n") else "\n"
    with gitignore.open("a", encoding="utf-8") as out:
        out.write(f"{separator}# stageline's state, secrets and keys: never commit\n{line}\n")
    verb = "added" if text else "created"
    return f"{verb} {gitignore}: `{line}` (stageline's folder is never committed)"


def tracked_under(root: Path, home: Path) -> list[str]:
    """Files under ``home`` that git tracks in the repository ``root`` is in."""
    toplevel = git_toplevel(root)
    if toplevel is None or ignore_line(toplevel, home) is None:
        return []
    done = subprocess.run(
        ["git", "-C", str(toplevel), "ls-files", "-z", "--", str(home.resolve())],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    return [name for name in done.stdout.decode(errors="replace").split("\0") if name]


def refuse_tracked_home(root: Path, home: Path) -> None:
    """Raise ``Refused`` when any file under ``home`` is tracked by git (a build must
    not go on with the master key, secrets or state committed or about to be)."""
    tracked = tracked_under(root, home)
    if not tracked:
        return
    toplevel = git_toplevel(root)
    assert toplevel is not None
    relative = home.resolve().relative_to(toplevel).as_posix()
    git = "git" if Path.cwd().resolve() == toplevel else f"git -C {toplevel}"
    more = f" and {len(tracked) - 1} more" if len(tracked) > 1 else ""
    raise Refused(
        f"git tracks {tracked[0]}{more} under {home}: stageline's folder must never be committed",
        hint=f"untrack it (the files stay on disk): {git} rm --cached -r {relative}, then commit",
    )
