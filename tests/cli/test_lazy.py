"""The CLI starts without importing what its commands need: command modules load on use.

Start-up figures are in ``bench/cli_start.py``; these tests pin what makes them: which
modules a fresh interpreter imports, and that the lazy listing is the real one.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stageline.cli import app
from stageline.cli.app import LAZY_COMMANDS
from stageline.cli.lazy import Lazy

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
HEAVY = ("sqlalchemy", "psycopg", "httpx", "starlette", "uvicorn", "alembic", "jinja2")

#: every command `stageline --help` listed before commands were loaded lazily
EVERY_COMMAND = [
    "version", "init", "check", "build", "artifacts", "deploy", "promote", "rollback",
    "ship", "status", "env", "history", "logs", "down", "up", "run", "agent", "verify", "approve",
    "reject", "outbox", "demo", "audit", "parity", "metrics", "serve", "artifact",
    "snapshot", "secrets", "tokens", "traffic",
]  # fmt: skip


def modules_after(code: str) -> set[str]:
    """Every module imported by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(done.stdout.splitlines()[-1].split())


def imported_after(code: str) -> set[str]:
    """Top-level packages imported by ``code`` in a fresh interpreter."""
    return {name.split(".")[0] for name in modules_after(code)}


def test_importing_the_cli_pulls_in_no_heavy_library() -> None:
    loaded = imported_after("import stageline.cli")
    assert "stageline" in loaded and "typer" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "pydantic" not in loaded  # not even the config models


def test_check_of_the_example_pulls_in_no_heavy_library() -> None:
    code = (
        "from stageline.cli import main\n"
        "try:\n"
        f"    main(['check', '-C', {str(SHOP)!r}])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    loaded = imported_after(code)
    assert "pydantic" in loaded  # it did validate
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_gate_kind_imports_only_its_own_module() -> None:
    loaded = modules_after("from stageline.gates.registry import get_gate\nget_gate('approval')")
    assert "stageline.gates.approval" in loaded
    for other in ("http", "migrations", "pii_scan", "parity", "soak", "side_effects"):
        assert f"stageline.gates.{other}" not in loaded


def test_help_lists_every_command_with_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listed = re.findall(r"^│ ([a-z]+) {2,}\S", result.output, flags=re.MULTILINE)
    assert listed == EVERY_COMMAND
    for spec in LAZY_COMMANDS:
        assert spec.help.split("\n")[0] in result.output


@pytest.mark.parametrize("spec", LAZY_COMMANDS, ids=lambda spec: spec.name)
def test_the_listed_help_is_the_commands_own(spec: Lazy) -> None:
    """The static one-liner is the first paragraph of the loaded command's help."""
    real = spec.load()
    first = inspect.cleandoc(real.help or "").split("\n\n")[0]
    assert spec.help == first, f"update LAZY_COMMANDS in cli/app.py for {spec.name!r}"


@pytest.mark.parametrize("name", [spec.name for spec in LAZY_COMMANDS])
def test_each_command_shows_its_full_help(name: str) -> None:
    result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Usage: stageline {name}" in result.output
    assert "--help" in result.output


def test_a_lazy_command_shows_its_options_and_its_errors(tmp_path: Path) -> None:
    shown = CliRunner().invoke(app, ["promote", "--help"], env={"COLUMNS": "200"})
    assert "--dry-run" in shown.output and "--json" in shown.output
    done = subprocess.run(
        [sys.executable, "-m", "stageline", "status", "-C", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: no stageline.toml") and "hint:" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["depoly"], "error: No such command 'depoly'. Did you mean 'deploy'"),
        (["promote"], "error: Missing argument 'source'."),
        (["deploy", "--bogus", "x", "y"], "error: No such option: --bogus"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stageline", *args], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr
    assert "hint: run `stageline --help` for usage" in done.stderr
