"""CLI output with fixed roles: step, success, warning, error; JSON for scripts.

Text is data. Anything a person, the store or a service supplied (notes, reasons, gate
output, refs, log lines, commit messages, variable values, error messages quoting them)
is never read as Rich markup: a note holding ``[/bold]`` would crash the command, and a
masked secret's ``[secret:NAME]`` would vanish as an unknown style. So the roles below
escape their message; a table row goes through :func:`add_row`, a free line through
:func:`line`, and a value placed inside a markup template through :func:`safe` (or is
passed as :func:`literal` text). Markup is written only by this package's own code.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from stageline.errors import StagelineError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def safe(value: object) -> str:
    """``value`` escaped to sit inside a markup template: ``f"[red]{safe(note)}[/]"``."""
    return escape(str(value))


def literal(value: object, style: str = "") -> Text:
    """``value`` as Rich text that is never read as markup (a cell, a panel's body)."""
    return Text(str(value), style=style)


def add_row(table: Table, *cells: str | Text) -> None:
    """A table row whose text cells are literal; a styled cell comes as :func:`literal`."""
    table.add_row(*(literal(cell) if isinstance(cell, str) else cell for cell in cells))


def line(text: str, *, stderr: bool = False) -> None:
    """A line printed as it is (no markup, no highlighting), wrapped only by the terminal."""
    (err if stderr else out).print(text, markup=False, soft_wrap=True)


#: a reason up to this many characters prints as it is, on one line (the terminal wraps
#: it); a longer one (a hold quoting 40 revisions) is wrapped to the screen and cut:
#: :func:`wrapped`. An error line keeps up to ``ERROR_LINE`` (it often quotes a path).
ONE_LINE = 200
ERROR_LINE = 500
#: the most lines a long text shows; ``--json`` has it whole
MAX_LINES = 8


def wrapped(
    text: str,
    width: int,
    *,
    first: int = 0,
    rest: int = 0,
    one_line: int = ONE_LINE,
    max_lines: int = MAX_LINES,
) -> list[str]:
    """``text`` as the lines to print ``width`` characters wide (pure): the first line
    after ``first`` columns (a label's), each other line indented by ``rest`` spaces.

    A short text (up to ``one_line`` characters, no line breaks) is one line, as it is.
    A longer one is wrapped at words (a longer token is cut), keeping its own line
    breaks, and cut after ``max_lines`` lines, the last saying how many were left out.
    """
    if len(text) <= one_line and "\n" not in text:
        return [text]
    width = max(width, max(first, rest) + 40)
    lines: list[str] = []
    for paragraph in text.splitlines():
        lead = " " * (rest if lines else first)
        pieces = textwrap.wrap(
            paragraph,
            width,
            initial_indent=lead,
            subsequent_indent=" " * rest,
            break_on_hyphens=False,
        )
        lines.extend(pieces or [lead])
    lines[0] = lines[0][first:]
    if len(lines) <= max_lines:
        return lines
    left = len(lines) - max_lines + 1
    more = f"… {left} more line{'s' if left > 1 else ''} (--json: whole)"
    return [*lines[: max_lines - 1], " " * rest + more]


def labelled(
    label: str,
    text: str,
    *,
    stderr: bool = True,
    one_line: int = ONE_LINE,
    max_lines: int = MAX_LINES,
) -> None:
    """``label`` (markup: this package's own) then ``text`` (literal) :func:`wrapped` to
    the terminal, further lines under the text (under a long label: 8 spaces in)."""
    console = err if stderr else out
    first = Text.from_markup(label).cell_len
    rest = first if first <= 20 else 8
    lines = wrapped(
        text, console.width, first=first, rest=rest, one_line=one_line, max_lines=max_lines
    )
    console.print(label, end="")
    for piece in lines:
        console.print(piece, markup=False, soft_wrap=True)


def step(message: str) -> None:
    out.print(f"[bold blue]==>[/] {escape(message)}")


def success(message: str) -> None:
    out.print(f"[bold green]ok[/] {escape(message)}")


def notice(message: str) -> None:
    """Something done on the side (on stderr, so ``--json`` output stays clean)."""
    err.print(f"[bold blue]==>[/] {escape(message)}", soft_wrap=True)


def warning(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {escape(message)}")


def error_line(message: str, hint: str | None = None) -> None:
    """``error: message`` and ``hint: ...``; a long one :func:`wrapped` (JSON has it whole)."""
    labelled("[bold red]error:[/] ", message, one_line=ERROR_LINE)
    if hint:
        labelled("[dim]hint:[/] ", hint, one_line=ERROR_LINE)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout, unstyled (for scripts and CI)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def error_json(exc: StagelineError) -> dict[str, Any]:
    payload: dict[str, Any] = {"error": exc.message, "kind": type(exc).__name__}
    if exc.hint:
        payload["hint"] = exc.hint
    for attr in ("issues", "problems", "valid"):
        value = getattr(exc, attr, None)
        if value is not None:
            payload[attr] = [vars(v) if hasattr(v, "__dataclass_fields__") else v for v in value]
    return payload


@contextmanager
def progress(title: str) -> Iterator[Any]:
    """A spinner for a long step; yields a callback that prints each sub-step as it starts."""
    with out.status(f"{escape(title)}...") as status:

        def report(stage: str) -> None:
            out.print(f"    [dim]{escape(stage)}[/]")
            status.update(f"{escape(title)}: {escape(stage)}")

        yield report
