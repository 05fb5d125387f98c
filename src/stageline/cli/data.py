"""snapshot plan | take | list | drop | restore: anonymized copies of production data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.data import snapshot as snapshots
from stageline.errors import UsageError
from stageline.state.snapshots import SnapshotRecord
from stageline.usecases.pipeline import Session
from stageline.values import label

snapshot_app = typer.Typer(
    help="Anonymized snapshots of an environment's database (see docs/snapshots.md).",
    no_args_is_help=True,
)
FromArgument = Annotated[str, typer.Argument(help="The environment to copy (e.g. production).")]


@snapshot_app.command("plan")
def plan(
    source: FromArgument,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Draft rules for the columns no rule covers into the pipeline file "
            "(masks suggested from names, types and sampled values; no value is written).",
        ),
    ] = False,
    file: Annotated[
        Path | None, typer.Option("--file", help="With --write: draft into this file instead.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --write: add to a file that has masking rules already."),
    ] = False,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """Show what every column of SOURCE's database gets and which rule says so; exit 1 if
    any is unclassified. With --write, draft the missing rules first."""
    if (file is not None or force) and not write:
        raise UsageError("--file and --force go with --write", hint="add --write")
    drafted = None
    with Session.open(directory) as session:
        if write:
            drafted = snapshots.draft_rules(session, source, into=file, force=force)
            if not json:
                _report_draft(drafted)
        result = snapshots.plan(session, source)
    if json:
        output.emit_json(
            {
                "source": source,
                **(
                    {"drafted": {"file": str(drafted.path), "columns": drafted.columns}}
                    if drafted
                    else {}
                ),
                "tables": [
                    {
                        "table": t.table.key,
                        "rows": "schema only" if t.schema_only else "copied",
                        "passthrough": t.passthrough,
                        "columns": [
                            {
                                "column": c.column.name,
                                "type": c.column.type,
                                "mask": c.mask,
                                "rule": c.source or None,
                                "problem": c.problem,
                            }
                            for c in t.columns
                        ],
                    }
                    for t in result.tables
                ],
                "problems": result.problems,
                "unused_rules": list(result.unused),
            }
        )
        return 1 if result.problems else 0
    table = Table("table", "column", "type", "gets", "rule", "note")
    for t in result.tables:
        for c in t.columns:
            note = c.problem or ("schema only" if t.schema_only else "")
            mask = output.literal(c.mask, "red" if c.problem else "")
            output.add_row(table, t.table.key, c.column.name, c.column.type, mask, c.source, note)
    output.out.print(table)
    for name in result.unused:
        output.warning(f"rule for {name}: matches no table or column in {source}")
    if result.problems:
        output.error_line(
            f"{len(result.problems)} column(s) cannot be snapshot",
            "classify them in the pipeline file's [data] (data.tables.TABLE, data.patterns, "
            f"data.table_defaults); `stageline snapshot plan {source} --write` drafts rules",
        )
        return 1
    output.success(f"every column of {source} is classified")
    return 0


@snapshot_app.command("take")
def take(
    source: FromArgument,
    into: Annotated[
        str | None,
        typer.Option(help="Keep it on this environment's server (default: the one before)."),
    ] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Stream SOURCE's database through the masking rules into a new snapshot."""
    with Session.open(directory) as session:
        if json:
            taken = snapshots.take(session, source, into=into)
        else:
            output.step(f"taking a masked snapshot of {source}")
            with output.progress("snapshot") as report:
                taken = snapshots.take(session, source, into=into, progress=report)
    rec = taken.record
    if json:
        output.emit_json(
            {
                **_record(rec),
                "fingerprints": taken.fingerprints,
                "passthrough": list(taken.passthrough),
                "dropped": list(taken.dropped),
                "mb_per_s": round(taken.mb_per_s, 2),
            }
        )
        return
    output.success(
        f"snapshot {rec.name} on {rec.environment}: {rec.rows} rows, "
        f"{rec.bytes / 1e6:.1f} MB in {rec.duration:.1f}s ({taken.mb_per_s:.1f} MB/s)"
    )
    for name in taken.dropped:
        output.line(f"    dropped older snapshot {name}")


@snapshot_app.command("list")
def list_(
    environment: Annotated[str | None, typer.Argument(help="Only this environment's.")] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """The snapshots kept, newest first."""
    with Session.open(directory) as session:
        kept = snapshots.list_snapshots(session, environment)
    if json:
        output.emit_json([_record(r) for r in kept])
        return
    table = Table("name", "on", "from", "taken", "rows", "MB", "rules")
    for r in kept:
        output.add_row(
            table,
            r.name,
            r.environment,
            r.source,
            f"{r.created_at:%Y-%m-%d %H:%M:%S}",
            str(r.rows),
            f"{r.bytes / 1e6:.1f}",
            label(r.rules_digest),
        )
    output.out.print(table)


@snapshot_app.command("drop")
def drop(
    name: Annotated[str, typer.Argument(help="A snapshot name from `snapshot list`.")],
    directory: DirOption = Path("."),
) -> None:
    """Drop a kept snapshot (its template database and fingerprints)."""
    with Session.open(directory) as session:
        rec = snapshots.drop(session, name)
    output.success(f"dropped snapshot {rec.name} from {rec.environment}")


@snapshot_app.command("restore")
def restore(
    environment: Annotated[str, typer.Argument(help="Whose database to replace.")],
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Replace ENVIRONMENT's database by a clone of its newest snapshot (stop it first)."""
    with Session.open(directory) as session:
        done = snapshots.restore(session, environment)
    if json:
        output.emit_json(
            {
                "environment": done.environment,
                "database": done.database,
                "snapshot": done.snapshot.name,
                "seconds": round(done.seconds, 3),
            }
        )
        return
    output.success(
        f"{done.environment}'s database {done.database} is now a clone of "
        f"{done.snapshot.name} ({done.seconds:.2f}s)"
    )


def _report_draft(drafted: snapshots.Drafted) -> None:
    if not drafted.columns:
        output.line(f"every column is covered by a rule: nothing drafted into {drafted.path}")
        return
    output.success(
        f"drafted rules for {drafted.columns} column(s) into {drafted.path}: review them "
        "(every line says why), then take a snapshot"
    )


def _record(rec: SnapshotRecord) -> dict[str, Any]:
    return {
        "name": rec.name,
        "source": rec.source,
        "environment": rec.environment,
        "created_at": rec.created_at.isoformat(),
        "rules_digest": rec.rules_digest,
        "row_counts": rec.row_counts,
        "rows": rec.rows,
        "bytes": rec.bytes,
        "duration": round(rec.duration, 3),
        "actor": rec.actor,
    }
