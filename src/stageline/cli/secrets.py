"""secrets set / list / rm / rotate-key. A value is never an argument: prompt or stdin."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.errors import UsageError
from stageline.usecases import secrets
from stageline.usecases.pipeline import Session

secrets_app = typer.Typer(
    help="An environment's secrets: stored encrypted, given only to that environment.",
    no_args_is_help=True,
)

EnvArgument = Annotated[str, typer.Argument(help="An environment name from the pipeline file.")]
NameArgument = Annotated[str, typer.Argument(help="The variable name the service reads.")]


def read_value(name: str) -> str:
    """The value: typed at a prompt that does not echo, or read whole from stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"value of {name}: ")
        again = getpass.getpass("again: ")
        if first != again:
            raise UsageError("the two values differ; nothing was stored")
        return first
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@secrets_app.command("set")
def set_(
    environment: EnvArgument,
    name: NameArgument,
    ref: Annotated[
        str | None,
        typer.Option(
            "--ref", help="Store a reference instead of a value: env:VARIABLE or file:/path."
        ),
    ] = None,
    directory: DirOption = Path("."),
) -> None:
    """Set NAME for ENVIRONMENT; the value is read from a prompt (no echo) or from stdin."""
    with Session.open(directory) as session:
        if ref is not None:
            info = secrets.set_secret(session, environment, name, reference=ref)
        else:
            info = secrets.set_secret(session, environment, name, value=read_value(name))
    source = f"reference {info.reference}" if info.reference else f"encrypted ({info.key_id})"
    output.success(f"{name} set for {environment}: {source}")
    if not info.declared:
        output.warning(
            f"{name} is not in environments.{environment}.secrets: the service will not"
            " receive it until it is declared there"
        )
    output.line("    it takes effect at the next deploy of " + environment)


@secrets_app.command("list")
def list_(
    environment: EnvArgument, directory: DirOption = Path("."), json: JsonOption = False
) -> None:
    """Names, where each value comes from, who set it and when. Never a value."""
    with Session.open(directory) as session:
        infos = secrets.list_secrets(session, environment)
    if json:
        output.emit_json([vars(info) for info in infos])
        return
    table = Table("name", "declared", "source", "set by", "set at")
    for info in infos:
        source = info.source if info.reference is None else f"{info.source}: {info.reference}"
        output.add_row(
            table,
            info.name,
            "yes" if info.declared else output.literal("no", "yellow"),
            source if info.source != "missing" else output.literal("missing", "red"),
            info.set_by or "-",
            f"{info.set_at:%Y-%m-%d %H:%M}" if info.set_at else "-",
        )
    output.out.print(table)


@secrets_app.command("rm")
def rm(environment: EnvArgument, name: NameArgument, directory: DirOption = Path(".")) -> None:
    """Remove ENVIRONMENT's stored secret NAME."""
    with Session.open(directory) as session:
        secrets.remove_secret(session, environment, name)
    output.success(f"{name} removed from {environment}")


@secrets_app.command("rotate-key")
def rotate_key(directory: DirOption = Path(".")) -> None:
    """Re-encrypt every stored secret under a new master key (in one transaction)."""
    with Session.open(directory) as session:
        done = secrets.rotate_key(session)
    output.success(
        f"{done.secrets} secret(s) and {done.sealed} sealed launch file(s) re-encrypted:"
        f" key {done.old_key} -> {done.new_key} ({done.key_file})"
    )
