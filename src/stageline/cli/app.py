"""Top-level commands: init, check, and the registration of the command groups.

Start-up speed: this module is imported by every ``stageline`` run, so it imports only
Typer, Rich's console and the error tree. ``init`` and ``check`` import the config
package (pydantic) when they run; every other command lives in its own module, listed in
``LAZY_COMMANDS`` and imported only when it runs (see ``stageline.cli.lazy``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stageline import __version__
from stageline.cli import output
from stageline.cli.lazy import Lazy, LazyGroup
from stageline.errors import ConfigError, UsageError
from stageline.host.repo_guard import ignore_home
from stageline.host.workspace import Workspace


def _cli(attribute: str, help: str, name: str | None = None) -> Lazy:
    """A command defined in ``stageline.cli.MODULE`` (``attribute`` is ``MODULE.NAME``)."""
    module, _, function = attribute.partition(".")
    return Lazy(name or function, f"stageline.cli.{module}", function, help)


#: every other command, in the order ``--help`` lists them, imported when it runs; the
#: help is the first paragraph of the command's docstring (tests/cli/test_lazy.py checks)
LAZY_COMMANDS = (
    _cli("artifacts.build", "Build REF once into an immutable, content-addressed artifact."),
    _cli("artifacts.list_", "List stored artifacts, newest first.", name="artifacts"),
    _cli(
        "deploy.deploy",
        "Deploy REF to ENVIRONMENT if the sign-off of every gated environment before it\n"
        "allows (new artifacts enter at the first environment); otherwise hold, every reason.",
    ),
    _cli(
        "deploy.promote",
        "Deploy the digest running in SOURCE to the next environment, unchanged, if the\n"
        "sign-off (gates, approvals) of every gated environment before it and its freezes\n"
        "allow; otherwise hold it, with every reason.",
    ),
    _cli(
        "deploy.rollback",
        "Go back to the previous (or a named) release; no rebuild, no network. Refused when\n"
        "the database's schema is not the one that release ran on, unless --migrate or\n"
        "--keep-schema says what to do.",
    ),
    _cli(
        "deploy.ship",
        "Build REF, deploy it to the first environment, promote through every automatic one.",
    ),
    _cli(
        "deploy.status",
        "Draw the pipeline: each environment's version, digest, health, age and URL.",
    ),
    _cli(
        "deploy.env",
        "Print the configuration ENVIRONMENT's service receives (secret values masked).",
    ),
    _cli("deploy.history", "List deployments, newest first."),
    _cli("deploy.logs", "Print the service's log in ENVIRONMENT."),
    _cli(
        "deploy.down",
        "Stop environments (all by default) and their PostgreSQL servers; then the agent.",
    ),
    _cli(
        "everyday.up",
        "Start again what was last deployed (all environments by default) after `down`.",
    ),
    _cli(
        "everyday.run",
        "Run a one-off COMMAND with the release ENVIRONMENT serves: its virtualenv, folder,\n"
        "variables and secrets, on a scratch copy of its database (dropped afterwards) unless\n"
        "--live (audited; in production as privileged as a deploy, --live as a --force).",
    ),
    _cli(
        "deploy.agent",
        "Run the host agent in the foreground (the CLI starts it by itself when needed).",
    ),
    _cli(
        "verify.verify",
        "Run ENVIRONMENT's gates against the digest running there; exit 1 unless all pass.",
    ),
    _cli(
        "verify.approve",
        "Approve the digest running in ENVIRONMENT, as the person your key or token proves.",
    ),
    _cli(
        "verify.reject",
        "Reject the digest running in ENVIRONMENT: it is held until a new digest arrives.",
    ),
    _cli(
        "verify.outbox",
        "List the side effects ENVIRONMENT's service would have performed (not production).",
    ),
    _cli(
        "demo.demo",
        "Ship the example service (FastAPI + PostgreSQL) from development to production.",
    ),
    _cli("access.audit", "List the audit log (of ENV), or `audit verify`: check its hash chain."),
    _cli(
        "parity.parity",
        "Compare two running environments layer by layer; exit 1 on blocking drift.",
    ),
    _cli(
        "parity.metrics",
        "DORA figures from the state store: frequency, lead time, failure rate, restore.",
    ),
    _cli(
        "serve.serve",
        "Serve the dashboard: the pipeline, releases, history, metrics, sign-off and the API.",
    ),
    _cli("artifacts.artifact_app", "Inspect or verify one stored artifact.", name="artifact"),
    _cli(
        "data.snapshot_app",
        "Anonymized snapshots of an environment's database (see docs/snapshots.md).",
        name="snapshot",
    ),
    _cli(
        "secrets.secrets_app",
        "An environment's secrets: stored encrypted, given only to that environment.",
        name="secrets",
    ),
    _cli("access.tokens_app", "Personal access tokens for the dashboard and API.", name="tokens"),
    _cli(
        "traffic.traffic",
        "Show ENVIRONMENT's traffic profile: routes, rates, statuses, latencies and sizes.",
    ),
)


class StagelineGroup(LazyGroup):
    """The ``stageline`` group: ``version``, ``init``, ``check``, then ``LAZY_COMMANDS``."""

    lazy = LAZY_COMMANDS


app = typer.Typer(
    name="stageline",
    cls=StagelineGroup,
    help="Build once, verify on staging, promote the same artifact to production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = Annotated[
    Path, typer.Option("--dir", "-C", help="The service's root folder.", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts and CI.")]
SignWithOption = Annotated[
    Path | None,
    typer.Option(
        "--sign-with",
        help="Sign with this SSH private key (default: $STAGELINE_SIGNING_KEY); its public"
        " key must be yours in [access] allowed_signers. Or set $STAGELINE_TOKEN.",
        show_default=False,
    ),
]


@app.command()
def version() -> None:
    """Print stageline's version."""
    output.out.print(__version__)


@app.command()
def init(
    directory: DirOption = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write stageline.toml for the project in the current folder, from reading its code
    (framework, entry point, migrations, database variables, health route, tags)."""
    from stageline.config.loader import PIPELINE_FILE
    from stageline.config.starter import questions, written_for

    root = directory.resolve()
    target = root / PIPELINE_FILE
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite it")
    text = written_for(root)
    target.write_text(text, encoding="utf-8")
    output.success(f"wrote {target}")
    ignored = ignore_home(root, Workspace.at(directory).home)
    if ignored:
        output.notice(ignored)
    asked = questions(text)
    for question in asked:
        output.warning(question)
    what = f"answer the {len(asked)} question(s) marked `# ?`, then" if asked else "read it, then"
    output.out.print(f"    next: {what} run `stageline check`")


@app.command()
def check(
    directory: DirOption = Path("."),
    json: JsonOption = False,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain",
            metavar="KEY",
            help="Print what KEY means instead (type, default, example), e.g. service.start,"
            " environments.staging.url, http.steps.expect_status.",
            show_default=False,
        ),
    ] = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference", help="Print every key's reference (docs/configuration.md) instead."
        ),
    ] = False,
) -> int:
    """Validate the pipeline file; every problem names its file, line and key."""
    if explain is not None or reference:
        from stageline.config import reference as docs

        if explain is not None:
            output.out.print(docs.explain(explain), markup=False)
        else:
            output.line(docs.markdown().rstrip())
        return 0
    from rich.table import Table

    from stageline.config import find_pipeline_file, load_pipeline
    from stageline.config.detect.fallbacks import fallback_warnings

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
        output.line(f"{len(exc.issues)} problem(s) in {path}", stderr=True)
        return 2
    warned = fallback_warnings(pipeline, path.parent)
    if json:
        output.emit_json(
            {
                "ok": True,
                "file": str(path),
                "service": pipeline.service.model_dump(),
                "environments": [env.model_dump(mode="json") for env in pipeline.environments],
                "warnings": warned,
            }
        )
        return 0
    table = Table("environment", "tier", "url", "accepts", "promotion", "postgres", "gates")
    for env in pipeline.environments:
        pg = env.postgres
        output.add_row(
            table,
            env.name,
            env.tier.value,
            env.url,
            ", ".join(env.accept),
            env.promotion,
            f"{pg.version} ({pg.provider})" if pg else "-",
            ", ".join(env.gates) or "-",
        )
    output.out.print(table)
    for warning in warned:
        output.warning(warning)
    output.success(
        f"{path} is valid: service {pipeline.service.name}, "
        f"{len(pipeline.environments)} environments"
    )
    return 0
