"""Resolve a git ref to one commit and export exactly that commit (never the work tree)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stageline.artifacts import untar
from stageline.errors import GitError


@dataclass(frozen=True)
class SourceRef:
    """A ref resolved in one repository."""

    ref: str
    tag: str | None
    commit: str
    commit_epoch: int
    #: a build of a commit (``review open``): the branch REF names, else the commit itself
    branch: str | None = None

    @property
    def commit_time(self) -> str:
        return datetime.fromtimestamp(self.commit_epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def short(self) -> str:
        return self.commit[:12]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError as error:
        raise GitError("git is not installed", hint="install git and try again") from error


def _git_text(repo: Path, *args: str) -> str | None:
    done = _git(repo, *args)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def recent_tags(repo: Path, limit: int = 5) -> list[str]:
    out = _git_text(repo, "tag", "--list", "--sort=-creatordate")
    return out.split()[:limit] if out else []


def resolve(repo: Path, ref: str) -> SourceRef:
    """Resolve ``ref`` to a commit, its tag (if any) and commit time; GitError if unknown."""
    if _git_text(repo, "rev-parse", "--git-dir") is None:
        raise GitError(f"{repo} is not a git repository", hint="run stageline inside your repo")
    commit = _git_text(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not commit or ref.startswith("-"):
        tags = recent_tags(repo)
        hint = f"recent tags: {', '.join(tags)}" if tags else "the repository has no tags yet"
        raise GitError(f"unknown git ref {ref!r} in {repo}", hint=hint)
    epoch = _git_text(repo, "show", "-s", "--format=%ct", commit)
    return SourceRef(
        ref=ref, tag=_tag_for(repo, ref, commit), commit=commit, commit_epoch=int(epoch or 0)
    )


def resolve_commit(repo: Path, ref: str) -> SourceRef:
    """``ref`` (a branch, or any commit) resolved for a commit build: no tag is taken from
    the commit, and ``branch`` is the branch ``ref`` names (local or ``origin/``), else the
    commit's full hash."""
    found = resolve(repo, ref)
    name = ref.removeprefix("refs/heads/")
    branch = name if branch_exists(repo, name) else found.commit
    return SourceRef(ref, None, found.commit, found.commit_epoch, branch)


def branch_exists(repo: Path, branch: str) -> bool | None:
    """Whether ``branch`` is still a local or remote-tracking branch of ``repo``; None
    when ``repo`` is no git repository (nothing can be said)."""
    if _git_text(repo, "rev-parse", "--git-dir") is None:
        return None
    return any(
        _git_text(repo, "rev-parse", "--verify", "--quiet", f"{where}{branch}") is not None
        for where in ("refs/heads/", "refs/remotes/")
    )


def _tag_for(repo: Path, ref: str, commit: str) -> str | None:
    """``ref`` itself when it names a tag; else the newest version tag on the commit."""
    name = ref.removeprefix("refs/tags/")
    if _git_text(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{name}") is not None:
        return name
    out = _git_text(repo, "tag", "--points-at", commit, "--sort=-version:refname")
    return out.split()[0] if out else None


def export(repo: Path, commit: str, dest: Path) -> None:
    """Write the tree of ``commit`` (as ``git archive`` gives it) into ``dest``; UnsafeArchive
    if the commit holds a link out of its tree."""
    done = _git(repo, "archive", "--format=tar", commit)
    if done.returncode != 0:
        raise GitError(f"git archive {commit[:12]} failed: {done.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        untar.extract(archive, dest)


def show_file(repo: Path, commit: str, path: str) -> str | None:
    """The text of ``path`` (posix, from the repository's top) in ``commit``; None when the
    commit has no such file."""
    done = _git(repo, "show", f"{commit}:{path}")
    return done.stdout.decode("utf-8", errors="replace") if done.returncode == 0 else None
