"""``stageline ci init KIND``: the CI file for the service whose pipeline file is found
from a folder, written at the top of the git repository that holds it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stageline.ci.plan import CiPlan, plan
from stageline.ci.render import FILES, render, write
from stageline.config.loader import find_pipeline_file, load_pipeline
from stageline.errors import GitError, UnknownName
from stageline.host.repo_guard import git_toplevel


@dataclass(frozen=True)
class Written:
    """The file written, its text, and the facts it was rendered from."""

    path: Path
    text: str
    plan: CiPlan


def planned(directory: Path) -> tuple[Path, CiPlan]:
    """The repository's top and the CI facts of the pipeline file found at ``directory``."""
    source = find_pipeline_file(directory)
    top = git_toplevel(source.parent)
    if top is None:
        raise GitError(
            f"{source.parent} is not inside a git repository",
            hint="CI files live at the top of the repository: `git init` first",
        )
    folder = source.parent.resolve().relative_to(top).as_posix()
    return top, plan(load_pipeline(source), folder)


def init(directory: Path, kind: str, *, force: bool = False) -> Written:
    """Write ``kind``'s CI file (github or gitlab) for the pipeline at ``directory``;
    refused (UsageError) when the file exists, unless ``force``."""
    if kind not in FILES:
        raise UnknownName("CI system", kind, sorted(FILES))
    top, facts = planned(directory)
    text = render(kind, facts)
    return Written(write(top, kind, text, force=force), text, facts)
