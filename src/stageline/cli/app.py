"""Top-level commands: init, check, and the registration of the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline import __version__
from stageline.cli import output
from stageline.config import find_pipeline_file, load_pipeline
from stageline.config.loader import PIPELINE_FILE
from stageline.config.starter import starter_for
from stageline.errors import ConfigError, UsageError
from stageline.repo_guard import ignore_home
from stageline.workspace import Workspace

app = typer.Typer(
    name="stageline",
    help="Build once, verify on staging, promote the same artifact to production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = Annotated[
    Path, typer.Option("--dir", "-C", help="The service's root folder.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts and CI.")]


@app.command()
def version() -> None:
    """Print stageline's version."""
    output.out.print(__version__)


@app.command()
def init(
    directory: DirOption = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter stageline.toml for the project in the current folder."""
    target = directory.resolve() / PIPELINE_FILE
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite it")
    target.write_text(starter_for(directory.resolve()), encoding="utf-8")
    output.success(f"wrote {target}")
    ignored = ignore_home(directory.resolve(), Workspace.at(directory).home)
    if ignored:
        output.notice(ignored)
    output.out.print("    next: edit it, then run `stageline check`")


@app.command()
def check(directory: DirOption = Path("."), json: JsonOption = False) -> int:
    """Validate the pipeline file; every problem names its file, line and key."""
    path = find_pipeline_file(directory)
    try:
        pipeline = load_pipeline(path)
    except ConfigError as exc:
        if json:
            output.emit_json(
                {"ok": False, "file": str(path), "issues": [vars(i) for i in exc.issues]}
            )
        for issue in exc.issues:
            output.error_line(str(issue))
        output.err.print(f"{len(exc.issues)} problem(s) in {path}")
        return 2
    if json:
        output.emit_json(
            {
                "ok": True,
                "file": str(path),
                "service": pipeline.service.model_dump(),
                "environments": [env.model_dump(mode="json") for env in pipeline.environments],
            }
        )
        return 0
    table = Table("environment", "tier", "url", "accepts", "promotion", "postgres", "gates")
    for env in pipeline.environments:
        pg = env.postgres
        table.add_row(
            env.name,
            env.tier.value,
            env.url,
            ", ".join(env.accept),
            env.promotion,
            f"{pg.version} ({pg.provider})" if pg else "-",
            ", ".join(env.gates) or "-",
        )
    output.out.print(table)
    output.success(
        f"{path} is valid: service {pipeline.service.name}, "
        f"{len(pipeline.environments)} environments"
    )
    return 0


def _register() -> None:
    from stageline.cli import artifacts, demo, deploy, verify

    app.command("build")(artifacts.build)
    app.command("artifacts")(artifacts.list_)
    app.add_typer(artifacts.artifact_app, name="artifact")
    from stageline.cli import data

    app.add_typer(data.snapshot_app, name="snapshot")
    for command in (
        deploy.deploy,
        deploy.promote,
        deploy.rollback,
        deploy.ship,
        deploy.status,
        deploy.env,
        deploy.history,
        deploy.logs,
        deploy.down,
        deploy.agent,
    ):
        app.command(command.__name__)(command)
    app.command("verify")(verify.verify)
    app.command("approve")(verify.approve)
    app.command("reject")(verify.reject)
    app.command("outbox")(verify.outbox)
    app.command("demo")(demo.demo)
    from stageline.cli import access, secrets

    app.add_typer(secrets.secrets_app, name="secrets")
    app.add_typer(access.tokens_app, name="tokens")
    app.command("audit")(access.audit)
    from stageline.cli import parity

    app.command("parity")(parity.parity)
    app.command("metrics")(parity.metrics)
    from stageline.cli import serve

    app.command("serve")(serve.serve)


_register()
