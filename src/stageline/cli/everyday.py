"""run, up: everyday commands on an environment (``stageline.usecases.everyday``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline.cli import output
from stageline.cli.app import DirOption, SignWithOption
from stageline.identity import current_credentials
from stageline.usecases import everyday
from stageline.usecases.pipeline import Session
from stageline.values import label


def run(
    environment: Annotated[str, typer.Argument(help="An environment name from the pipeline file.")],
    command: Annotated[
        list[str],
        typer.Argument(help="The command and its arguments, after `--`.", show_default=False),
    ],
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Run against the environment's live data, not a copy of its database "
            "(the deploy rule; in production also the force rule).",
        ),
    ] = False,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
) -> int:
    """Run a one-off COMMAND with the release ENVIRONMENT serves: its virtualenv, folder,
    variables and secrets, on a scratch copy of its database (dropped afterwards) unless
    --live (audited; in production as privileged as a deploy, --live as a --force).

    Options of stageline come before `--`: `stageline run staging -C shop --live --
    python manage.py createsuperuser`. The command gets this terminal; its exit code is
    stageline's."""
    with Session.open(directory) as session:
        done = everyday.run_command(
            session,
            environment,
            command,
            live=live,
            credentials=current_credentials(sign_with),
            progress=output.notice,
        )
    if done.reached_live:
        output.error_line(done.reached_live)
        return done.exit_code or 1
    if done.exit_code != 0:
        output.notice(f"exited {done.exit_code} in {done.environment}")
    return done.exit_code


def up(
    environment: Annotated[str | None, typer.Argument(help="Only this environment.")] = None,
    directory: DirOption = Path("."),
) -> None:
    """Start again what was last deployed (all environments by default) after `down`."""
    with Session.open(directory) as session, output.progress("bringing up") as report:
        brought = everyday.up(session, environment, progress=report)
    if not brought:
        output.success("nothing is deployed anywhere")
    for one in brought:
        name = f"{one.release.name} ({label(one.release.digest)})"
        if one.started:
            output.success(f"{one.environment} runs {name} again, healthy")
        else:
            output.success(f"{one.environment} was running {name} already")
