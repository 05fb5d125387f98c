"""The example services of issue 20 as their teams' repositories: the tree committed and
tagged with the team's own tag pattern (v1), then ``next/`` laid over it, committed and
tagged again (v2). Neither tag holds a stageline file: the pipeline file belongs to the
operator, written later by ``stageline init`` in the working tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.helpers import example_repo

#: each example's two tags, in the patterns real teams use (a monorepo prefixes its
#: service's tags; the others are bare versions and dated releases)
TAGS = {
    "monorepo-fastapi": ("backend-v0.9.0", "backend-v0.10.0"),
    "django-static": ("1.0.0", "1.1.0"),
    "flask-redis": ("release-2026.11", "release-2026.12"),
}


def released_repo(name: str, dest: Path) -> Path:
    """A git repository at ``dest`` of ``examples/NAME`` with its two tags; the working
    tree is at the second. Fails when either tag holds a stageline file."""
    repo = example_repo(name, dest, TAGS[name])
    for tag in TAGS[name]:
        assert pipeline_files(repo, tag) == [], f"{tag} holds a stageline file"
    return repo


def pipeline_files(repo: Path, tag: str) -> list[str]:
    """The files at ``tag`` that would give stageline its pipeline: any ``stageline.toml``,
    any ``pyproject.toml`` with a ``[tool.stageline]`` table."""
    listed = git(repo, "ls-tree", "-r", "--name-only", tag).splitlines()
    found = [path for path in listed if Path(path).name == "stageline.toml"]
    pyprojects = [path for path in listed if Path(path).name == "pyproject.toml"]
    found += [p for p in pyprojects if "[tool.stageline" in git(repo, "show", f"{tag}:{p}")]
    return found


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout
