"""The ``stageline`` command: parse, call the library, render. Nothing else lives here."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TextIO

import typer

from stageline.cli import output
from stageline.cli.app import app
from stageline.errors import StagelineError
from stageline.host.repo_guard import Notice
from stageline.redact import scrub, scrub_value

__all__ = ["app", "main"]

#: the usage errors of the click Typer parses with (its own copy since Typer 0.20, click
#: before); `import click` itself is left out: it costs start-up time and raises nothing here
_CLICK_ERRORS: tuple[type[Exception], ...] = tuple(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_ABORTS: tuple[type[BaseException], ...] = (typer.Abort,)


def _show_notice(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, Notice):
        output.notice(scrub(str(message)))
    else:
        output.warning(scrub(str(message)))


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the Typer app, turning our errors into one line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    want_json = "--json" in args
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", Notice)
            warnings.showwarning = _show_notice
            result = app(args=args, prog_name="stageline", standalone_mode=False)
    except StagelineError as exc:
        if want_json:
            output.emit_json(scrub_value(output.error_json(exc)))
        output.error_line(scrub(str(exc)), scrub(exc.hint) if exc.hint else None)
        sys.exit(exc.exit_code)
    except _ABORTS:
        output.error_line("aborted")
        sys.exit(130)
    except _CLICK_ERRORS as exc:
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        output.error_line(message, "run `stageline --help` for usage")
        sys.exit(2)
    except KeyboardInterrupt:
        output.error_line("interrupted")
        sys.exit(130)
    except Exception as exc:
        import tempfile  # only on a crash: each costs start-up time
        import traceback

        log = Path(tempfile.gettempdir()) / "stageline-crash.log"
        log.write_text(scrub(traceback.format_exc()), encoding="utf-8")
        output.error_line(scrub(f"unexpected {type(exc).__name__}: {exc}"), f"details in {log}")
        sys.exit(3)
    sys.exit(result if isinstance(result, int) else 0)
