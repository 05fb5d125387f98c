"""review open | list | close | gc: an environment per branch (docs/review.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.usecases import review, review_list
from stageline.usecases.pipeline import Session
from stageline.values import age

review_app = typer.Typer(
    help="Review environments: one per branch, opened and closed from CI (docs/review.md).",
    no_args_is_help=True,
)


@review_app.command("open")
def open_(
    ref: Annotated[str, typer.Argument(help="A branch (its head) or any commit.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Name it (a slug of it); default: the branch.")
    ] = None,
    untrusted: Annotated[
        bool,
        typer.Option(
            "--untrusted",
            help="Code from a fork: no secrets at all and no outbound allowance "
            "(no STAGELINE_ALLOW_* variable: every guarded side effect is only recorded).",
        ),
    ] = False,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Build REF once and run it in review/<slug>: its own port, host name and database;
    opening it again switches it blue/green to the new build."""
    with Session.open(directory) as session:
        if json:
            opened = review.open_review(session, ref, name=name, untrusted=untrusted)
        else:
            with output.progress(f"opening a review environment for {ref}") as report:
                opened = review.open_review(
                    session, ref, name=name, untrusted=untrusted, progress=report
                )
    rec = opened.record
    if json:
        output.emit_json(
            {"name": rec.name, "url": rec.url, "host_url": rec.host_url,
             "commit": rec.commit, "branch": rec.branch, "state": opened.state}
        )  # fmt: skip
        return
    verb = "updated" if opened.updated else "opened"
    output.success(f"{rec.name} {verb}: {rec.branch} at {rec.commit[:12]}")
    output.out.print(f"    {rec.url}")
    output.out.print(f"    {rec.host_url}")


@review_app.command("list")
def list_(directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """List open review environments: branch, commit, age, last request, URL, state, memory."""
    with Session.open(directory) as session:
        views = review_list.list_reviews(session)
    if json:
        output.emit_json([v.to_json() for v in views])
        return
    if not views:
        output.out.print("no review environment is open (`stageline review open BRANCH`)")
        return
    table = Table("name", "branch", "commit", "age", "last request", "url", "state", "memory")
    for v in views:
        rec = v.record
        output.add_row(
            table, rec.name, rec.branch, rec.commit[:12], age(rec.opened_at),
            age(v.last_request) if v.last_request else "-", f"{rec.url}\n{rec.host_url}",
            v.state + (" (untrusted)" if rec.untrusted else ""), f"{v.memory_bytes / 2**20:.0f} MB",
        )  # fmt: skip
    output.out.print(table)


@review_app.command("close")
def close(
    name: Annotated[str, typer.Argument(help="review/<slug> (or the slug).")],
    directory: DirOption = Path("."),
) -> None:
    """Close NAME: stop its processes, drop its database and role, remove its folders."""
    with Session.open(directory) as session:
        closed = review.close_review(session, name)
    output.success(f"{closed.name} closed")


@review_app.command("gc")
def gc(directory: DirOption = Path("."), json: JsonOption = False) -> None:
    """Close review environments past their TTL, idle too long, or whose branch is gone."""
    with Session.open(directory) as session:
        closed = review.gc(session)
    if json:
        output.emit_json([{"name": c.name, "reason": c.reason} for c in closed])
        return
    for c in closed:
        output.success(f"{c.name} closed: {c.reason}")
    if not closed:
        output.out.print("nothing to close")
