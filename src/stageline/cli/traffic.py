"""traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption
from stageline.errors import UsageError
from stageline.traffic.profile import RouteStats, TrafficProfile
from stageline.usecases.pipeline import Session
from stageline.usecases.traffic import profile
from stageline.values import parse_duration

EnvArgument = Annotated[str, typer.Argument(help="An environment name from the pipeline file.")]


def traffic(
    environment: EnvArgument,
    since: Annotated[
        str | None,
        typer.Option(help="The window: the last 1h, 30m, 2d... or from an ISO time (UTC)."),
    ] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Show ENVIRONMENT's traffic profile: routes, rates, statuses, latencies and sizes.

    Recorded by its proxy (production by default; see record_traffic), kept 7 days.
    """
    start = _since(since, datetime.now(UTC)) if since else None
    with Session.open(directory) as session:
        found = profile(session, environment, start)
        recording = session.pipeline().environment(environment).records_traffic
    if json:
        output.emit_json(found.to_json())
        return
    draw(found)
    if not found.routes and not recording:
        output.warning(
            f"{environment} does not record its traffic; set [environments.{environment}] "
            "record_traffic = true and deploy"
        )


def _since(text: str, now: datetime) -> datetime:
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since expects a duration or an ISO time, got {text!r}",
            hint="e.g. --since 1h or --since 2026-12-05T09:00",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def draw(found: TrafficProfile) -> None:
    """The profile: one row per route, then the window's figures."""
    output.step(
        f"traffic of {found.environment} from {found.since:%Y-%m-%d %H:%M} "
        f"to {found.until:%Y-%m-%d %H:%M} UTC"
    )
    if not found.routes:
        output.line("    no requests recorded in this window")
        return
    table = Table("route", "requests", "share", "statuses", "p50 ms", "p99 ms", "bytes in/out")
    table.columns[0].no_wrap = True
    mix = found.mix
    for route in found.routes:
        output.add_row(
            table,
            route.route,
            str(route.count),
            f"{mix[route.route]:.1%}",
            _statuses(route),
            f"{route.p50_ms:.1f}",
            f"{route.p99_ms:.1f}",
            f"{route.request_bytes:.0f}/{route.response_bytes:.0f}",
        )
    output.out.print(table)
    output.line(f"    requests: {found.requests}, peak: {found.peak_rps:g}/s")
    busiest = found.busiest_hour
    if busiest is not None:
        start, requests, peak = busiest
        output.line(
            f"    busiest hour: {start:%Y-%m-%d %H:00} UTC, {requests} requests, peak {peak:g}/s"
        )
    output.line(f"    most requests in flight at once: {found.max_concurrency}")


def _statuses(route: RouteStats) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(route.statuses.items()))
