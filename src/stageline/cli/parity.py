"""parity, metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.errors import UsageError
from stageline.parity.metrics import Durations, Metrics
from stageline.parity.report import ParityView, metrics_for, parity_view
from stageline.usecases.pipeline import Session
from stageline.values import duration

_SEVERITY = {
    "-": output.literal("equal", "green"),
    "info": output.literal("info", "cyan"),
    "warning": output.literal("warning", "yellow"),
    "blocking": output.literal("blocking", "bold red"),
    "allowed": output.literal("allowed", "magenta"),
}


def parity(
    a: Annotated[
        str | None, typer.Argument(help="An environment (default: before production).")
    ] = None,
    b: Annotated[
        str | None, typer.Argument(help="The one to compare with (default: production).")
    ] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """Compare two running environments layer by layer; exit 1 on blocking drift."""
    with Session.open(directory) as session:
        view = parity_view(session, a, b)
    if json:
        output.emit_json(view.to_json())
    else:
        draw(view)
    return 1 if view.report is not None and not view.report.ok else 0


def draw(view: ParityView) -> None:
    """The parity report: one row per layer and key, then the time and personnel gaps."""
    output.step(f"parity: {view.a} against {view.b}")
    report = view.report
    if report is None:
        output.line(f"    {view.missing} runs nothing yet: nothing to compare")
    else:
        table = Table("layer", "key", view.a, view.b, "result", "why")
        for row in report.rows:
            why = row.reason + (f" (allowed by {row.allowed_by})" if row.allowed_by else "")
            cells = (row.layer, row.key, row.a, row.b)
            output.add_row(table, *cells, _SEVERITY[row.severity], why)
        output.out.print(table)
        if report.ok:
            allowed = f", {len(report.allowed)} allowed difference(s)" if report.allowed else ""
            output.success(f"no blocking drift between {view.a} and {view.b}{allowed}")
        else:
            output.error_line(
                f"{len(report.blocking)} blocking difference(s) between {view.a} and {view.b}",
                hint=(
                    f"make them equal, or allow one in [environments.{view.a}.parity] "
                    'with allow = [{ layer = "...", key = "...", reason = "..." }]'
                ),
            )
    output.line(f"time gap: {view.gap.summary()}")
    for person in view.people:
        output.out.print(
            f"people in {person.environment}: deploy: {person.may_deploy}"
            f" (did: {', '.join(person.deployed_by) or 'nobody yet'});"
            f" approve: {person.may_approve}",
            markup=False,
        )
    for note in view.personnel_notes:
        output.warning(f"personnel gap: {note}")


def metrics(
    since: Annotated[
        str | None, typer.Option(help="Start of the period (ISO date or time, UTC).")
    ] = None,
    days: Annotated[int, typer.Option(help="The period: the last N days.", min=1)] = 30,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """DORA figures from the state store: frequency, lead time, failure rate, restore."""
    start = _parse_since(since) if since else None
    with Session.open(directory) as session:
        figures = metrics_for(session, since=start, days=days)
    if json:
        output.emit_json(figures.to_json())
        return
    draw_metrics(figures)


def _parse_since(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since expects an ISO date or time, got {text!r}", hint="e.g. --since 2026-11-01"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _span(durations: Durations) -> str:
    if durations.median is None:
        return "-"
    worst = duration(durations.worst or 0)
    return f"median {duration(durations.median)}, worst {worst} ({len(durations.samples)})"


def draw_metrics(figures: Metrics) -> None:
    output.step(
        f"DORA metrics from {figures.since:%Y-%m-%d %H:%M} to {figures.until:%Y-%m-%d %H:%M} UTC"
    )
    table = Table("environment", "deployments", "per day", "per week")
    for f in figures.frequency:
        output.add_row(
            table, f.environment, str(f.deployments), f"{f.per_day:.2f}", f"{f.per_week:.1f}"
        )
    output.out.print(table)
    where = figures.production or "production"
    rate = figures.change_failure_rate
    shown = f"{rate:.0%} ({figures.failures} of {figures.changes})" if rate is not None else "-"
    output.out.print(f"lead time (tagged commit -> {where}): {_span(figures.lead_time)}")
    output.out.print(f"change failure rate in {where}: {shown}")
    output.out.print(f"time to restore in {where}: {_span(figures.time_to_restore)}")
