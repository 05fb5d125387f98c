"""``stageline status`` drawn with Rich from the read model (:mod:`stageline.usecases.views`).

Everything shown comes from the :class:`~stageline.usecases.views.PipelineView` the dashboard draws
too; text from people or the pipeline file (names, versions, URLs, hold reasons) is
escaped, never read as Rich markup.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from stageline.cli import output
from stageline.usecases.views import EnvironmentView, PipelineView, SignOffView
from stageline.values import short

_COLOUR = {"healthy": "green", "unhealthy": "red", "down": "red", "idle": "cyan"}
_MARK = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "error": "[red]✗[/]"}


def draw_pipeline(view: PipelineView) -> None:
    """The boxes (build, each environment, the sign-off before production), the holds,
    parity's gaps, the rehearsals and, on a narrow terminal, the URLs."""
    wide = output.out.width >= 150  # room for each URL inside its box
    grid = Table.grid(expand=True, padding=(0, 0))
    cells: list[Any] = []
    if view.build:
        release = view.build.release
        body = f"{escape(release.label or '')}\n{short(release.digest)}"
        cells.append(Panel(body, title="build", padding=(0, 0)))
    for env in view.environments:
        if env.production:
            cells.append(_signoff_box(view.signoff))
        cells.append(_environment_box(env, wide))
    for _ in cells:
        grid.add_column(ratio=1)
    grid.add_row(*cells)
    output.out.print(grid)
    for env in view.environments:
        if env.drift:
            output.warning(f"{env.name}: {env.drift}")
    _draw_holds(view.signoff)
    _draw_parity(view)
    if not wide:
        urls = Table.grid(padding=(0, 2))
        for env in view.environments:
            urls.add_row(f"  {escape(env.name)}", escape(env.url))
        output.out.print(urls)


def _environment_box(env: EnvironmentView, wide: bool) -> Panel:
    release, seen = env.release, env.observed
    if release is None:
        body = "[dim]not deployed[/]"
    else:
        colour = _COLOUR.get(env.health, "dim")
        body = (
            f"{escape(release.label or 'None')}\n{short(release.digest)}\n"
            f"[{colour}]{escape(env.health)}[/]\n{env.age + ' ago' if env.age else ''}"
        )
    if seen is not None and seen.serving:  # blue/green: what the proxy serves, how many
        body += f"\n{seen.processes}x {short(seen.serving)}"
        body += f"\n[yellow]watching {seen.watching_for:.0f}s[/]" if seen.watching_for else ""
        body += "".join(f"\n{escape(kind)}: {state}" for kind, state in seen.workers.items())
    if wide:
        body += f"\n{escape(env.url)}"
    style = "bold yellow" if env.tier == "staging" else "white"
    return Panel(body, title=escape(env.name), border_style=style, padding=(0, 0))


def _signoff_box(signoff: SignOffView) -> Panel:
    if signoff.state == "none":
        return Panel("[dim]promote\nwhen\nready[/]", title="sign-off", padding=(0, 0))
    lines = [
        f"{_MARK.get(status, '[yellow]…[/]')} {escape(gate)}" for gate, status in signoff.gates
    ]
    lines.append(f"{len(signoff.approvers)}/{signoff.approvals_required} approvals")
    lines.append("[green]promote[/]" if signoff.promote else "[red]hold[/]")
    return Panel(
        "\n".join(lines),
        title="sign-off ◇",
        padding=(0, 0),
        border_style="green" if signoff.promote else "red",
    )


def _draw_holds(signoff: SignOffView) -> None:
    if signoff.state != "held":
        return
    output.out.print(f"[red]held in {escape(signoff.source or '')}:[/]")
    for reason, clear in signoff.holds:  # a long one wrapped and cut: --json has it whole
        output.labelled("  - ", reason, stderr=False)
        output.labelled("    [dim]clear:[/] ", clear, stderr=False)


def _draw_parity(view: PipelineView) -> None:
    """Parity's time gap, who may deploy to / approve each environment, the rehearsals."""
    parity = view.parity
    if parity.time_gap is not None:
        output.out.print(f"time gap: {parity.time_gap.summary()}", markup=False)
    if parity.people:
        output.out.print("who may deploy and approve (personnel gap):")
    for p in parity.people:
        did = ", ".join(p.deployed_by) or "nobody yet"
        line = f"  {p.environment}: deploy: {p.may_deploy} (did: {did}); approve: {p.may_approve}"
        output.out.print(line, markup=False, soft_wrap=True)
    for line in parity.rehearsals:
        output.out.print(line, markup=False, soft_wrap=True)
