"""ci init github|gitlab: the CI files that ship every tag to staging and open review
environments for pull and merge requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli import output
from stageline.cli.app import DirOption

ci_app = typer.Typer(
    help="CI files for this pipeline: GitHub Actions or GitLab CI (see docs/ci.md).",
    no_args_is_help=True,
)


@ci_app.command("init")
def init(
    kind: Annotated[
        str,
        typer.Argument(
            help="github: .github/workflows/stageline.yml; gitlab: .gitlab-ci.yml.",
            metavar="github|gitlab",
        ),
    ],
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    directory: DirOption = Path("."),
) -> None:
    """Write the CI file: on a version tag, build, ship to staging and verify it; on a
    pull or merge request, open its review environment, and close it when it closes."""
    from stageline.ci.init import init as write_ci

    written = write_ci(directory, kind, force=force)
    facts = written.plan
    output.success(f"wrote {written.path}")
    output.line(
        f"    on a tag matching {', '.join(facts.tags)}: build, ship to {facts.staging}, "
        f"verify {facts.staging} (JUnit report {facts.at_top(facts.junit)})"
    )
    output.line("    on a pull/merge request: review open, its URL on it; on close: review close")
    output.line(
        f"    next: set the CI secret {facts.database_secret} (the team's PostgreSQL state "
        "store); the jobs run on the stageline host (docs/ci.md)"
    )
