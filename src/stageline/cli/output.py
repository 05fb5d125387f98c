"""CLI output with fixed roles: step, success, warning, error; JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape

from stageline.errors import StagelineError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def step(message: str) -> None:
    out.print(f"[bold blue]==>[/] {message}")


def success(message: str) -> None:
    out.print(f"[bold green]ok[/] {message}")


def notice(message: str) -> None:
    """Something done on the side (on stderr, so ``--json`` output stays clean)."""
    err.print(f"[bold blue]==>[/] {escape(message)}", soft_wrap=True)


def warning(message: str) -> None:
    err.print(f"[bold yellow]warning:[/] {escape(message)}")


def error_line(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)


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
    with out.status(f"{title}...") as status:

        def report(stage: str) -> None:
            out.print(f"    [dim]{stage}[/]")
            status.update(f"{title}: {stage}")

        yield report
