"""The ``stageline`` command: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import sys
import tempfile
import traceback
from pathlib import Path

import click

from stageline.cli import output
from stageline.cli.app import app
from stageline.errors import StagelineError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, turning our errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    want_json = "--json" in args
    try:
        result = app(args=args, prog_name="stageline", standalone_mode=False)
    except StagelineError as exc:
        if want_json:
            output.emit_json(output.error_json(exc))
        output.error_line(str(exc), exc.hint)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        output.error_line("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        output.error_line(exc.format_message(), "run `stageline --help` for usage")
        sys.exit(2)
    except KeyboardInterrupt:
        output.error_line("interrupted")
        sys.exit(130)
    except Exception as exc:
        log = Path(tempfile.gettempdir()) / "stageline-crash.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        output.error_line(f"unexpected {type(exc).__name__}: {exc}", f"details in {log}")
        sys.exit(3)
    sys.exit(result if isinstance(result, int) else 0)
