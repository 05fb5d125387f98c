"""Migration tools as kinds: alembic with its config anywhere, flask-migrate, a custom
command, and Django's per-app revisions kept readable in reports."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.errors import UsageError
from stageline.gates.base import ProcessOutcome
from stageline.gates.migrations import MigrationsOptions
from stageline.rehearsal.facts import Budgets, StepOutcome
from stageline.rehearsal.judge import judge
from stageline.rehearsal.report import text
from stageline.rehearsal.tools import (
    Command,
    ToolFiles,
    command_migrator,
    compact_route,
    default_commands,
    local_runner,
    missing_files,
    production_revision,
    readable,
    revision_changes,
)
from stageline.services.postgres import PostgresServer
from stageline.usecases.demo import example_source

from .test_judge import facts

BIN = Path(sys.executable).parent


def test_default_commands_per_kind() -> None:
    assert default_commands("flask-migrate", ToolFiles(app="flaskr:create_app()")) == (
        "flask --app 'flaskr:create_app()' db upgrade",
        "flask --app 'flaskr:create_app()' db downgrade {revision}",
    )
    assert default_commands("flask-migrate", ToolFiles(directory="db/m")) == (
        "flask db upgrade --directory db/m", "flask db downgrade {revision} --directory db/m",
    )  # fmt: skip
    assert default_commands("alembic", ToolFiles(config="backend/alembic.ini")) == (
        "alembic -c backend/alembic.ini upgrade head",
        "alembic -c backend/alembic.ini downgrade {revision}",
    )
    assert default_commands("alembic", ToolFiles(config="alembic.ini")) is None
    assert default_commands("django", ToolFiles()) is None


def test_flask_migrate_is_alembic_through_flask() -> None:
    tool = command_migrator(
        "flask-migrate", run=local_runner(), cwd=Path("."), env={"A": "1"}, bin_dir=None,
        files=ToolFiles(app="flaskr"),
    )  # fmt: skip
    assert tool.name == "flask-migrate" and tool.initial == "base"
    assert tool.env == {"A": "1", "FLASK_APP": "flaskr"}
    assert tool.downgrade_command == "flask --app flaskr db downgrade {revision}"
    custom = command_migrator(
        "flask-migrate", run=local_runner(), cwd=Path("."), env={}, bin_dir=None,
        upgrade="./bin/migrate", files=ToolFiles(app="flaskr"),
    )  # fmt: skip
    assert custom.upgrade_command == "./bin/migrate"


def test_missing_files_name_where_they_were_looked_for(tmp_path: Path) -> None:
    message = missing_files("alembic", tmp_path, ToolFiles())
    assert message == (
        f'no alembic.ini at {tmp_path}/alembic.ini: set config = "path/to/alembic.ini" in the '
        "migrations gate (relative to the release's folder; `stageline init` finds it) and "
        "bundle it"
    )
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "alembic.ini").write_text("[alembic]\n")
    assert missing_files("alembic", tmp_path, ToolFiles(config="db/alembic.ini")) is None
    flask = missing_files("flask-migrate", tmp_path, ToolFiles())
    assert flask is not None and flask.startswith(
        f"no Flask-Migrate folder (env.py) at {tmp_path}/migrations"
    )
    assert missing_files("django", tmp_path, ToolFiles()) == (
        f"no manage.py at {tmp_path}: tool 'django' runs `python manage.py migrate` there"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tool": "command", "upgrade": "up"}, "tool 'command' needs downgrade, current"),
        ({"tool": "command", "upgrade": "u", "downgrade": "d", "current": "c"},
         "downgrade must contain {revision}"),
        ({"tool": "django", "config": "alembic.ini"}, "config is an option of tool 'alembic'"),
        ({"tool": "alembic", "app": "flaskr"}, "app is an option of tool 'flask-migrate'"),
        ({"config": "../alembic.ini"}, "expected a path inside the bundle"),
    ],
)  # fmt: skip
def test_tool_options_are_checked(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("(", r"\(")):
        MigrationsOptions.model_validate(options)


def test_valid_tool_options() -> None:
    flask = MigrationsOptions.model_validate({"tool": "flask-migrate", "app": "flaskr"})
    assert flask.files() == ToolFiles(app="flaskr")
    command = MigrationsOptions.model_validate(
        {"tool": "command", "upgrade": "m up", "downgrade": "m down {revision}", "current": "m at"}
    )
    assert command.current == "m at"


# -- a custom command -------------------------------------------------------------------

CURRENT = """
import os, psycopg
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    found = conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]
    rows = conn.execute("SELECT version_num FROM alembic_version").fetchall() if found else []
if rows:  # a log line first: the revision is the last line
    print("checking the database...")
    print(rows[0][0])
"""


def test_a_custom_command_tool_on_a_real_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source = example_source()
    (tmp_path / "current.py").write_text(CURRENT)
    (tmp_path / "alembic.ini").write_text((source / "alembic.ini").read_text())
    shutil.copytree(source / "migrations", tmp_path / "migrations")
    tool = Command(
        run=local_runner(), cwd=tmp_path, env={"PATH": str(BIN)},
        upgrade_command="alembic upgrade head", downgrade_command="alembic downgrade {revision}",
        current_command="python current.py", bin_dir=BIN,
    )  # fmt: skip
    name = f"cmd_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    try:
        url = postgres_server.url(name)
        assert tool.current(url) == "none"
        step = tool.upgrade(url, "upgrade")
        assert step.ok and step.reached == "0001_initial"
        down = tool.downgrade(url, "base", "downgrade")
        assert down.ok and down.reached == "none"
        # release code never runs against production: its revision is not read
        revision, note = production_revision(tool, url)
        assert revision == "none" and "not read" in note
    finally:
        postgres_server.drop_database(name)


def test_a_failing_current_is_an_error_not_a_guess(tmp_path: Path) -> None:
    def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessOutcome:
        return ProcessOutcome(2, "boom: no such table\n")

    tool = Command(run=run, cwd=tmp_path, env={}, upgrade_command="u",
                   downgrade_command="d {revision}", current_command="at")  # fmt: skip
    with pytest.raises(UsageError, match="`at` exited 2: boom: no such table"):
        tool.current("postgresql://x@127.0.0.1/none")


# -- Django's per-app revisions ---------------------------------------------------------

APPS = [f"app{i:02d}" for i in range(12)]
BEFORE = ",".join(f"{app}:0001_initial_with_a_long_name" for app in APPS)
AFTER = BEFORE.replace("app03:0001_initial_with_a_long_name", "app03:0002_add_field")
AFTER = AFTER.replace("app07:0001_initial_with_a_long_name", "app07:0002_rename")


def test_one_line_per_app_that_changes() -> None:
    assert revision_changes(BEFORE, AFTER) == [
        "app03: 0001_initial_with_a_long_name -> 0002_add_field",
        "app07: 0001_initial_with_a_long_name -> 0002_rename",
    ]
    assert compact_route(BEFORE, AFTER) == "2 apps change (app03, app07)"
    assert compact_route("0001", "0002") == "0001 -> 0002"
    assert revision_changes("0001", "0002") == ["0001 -> 0002"]


def test_long_revisions_are_named_and_lines_capped() -> None:
    names = {BEFORE: "production's revision", AFTER: "the release's head"}
    line = readable(f"no rollback path from {AFTER} to {BEFORE}: failed", names)
    assert line == "no rollback path from the release's head to production's revision: failed"
    assert len(readable("x" * 1000, {})) == 300


def test_django_report_never_repeats_the_long_revisions() -> None:
    failed = StepOutcome("downgrade", False, 1.0, "error", "migrate", "app03.0002", AFTER)
    f = facts(tool="django", production_revision=BEFORE, head_revision=AFTER,
              steps=[StepOutcome("upgrade", True, 1.0, reached=AFTER), failed])  # fmt: skip
    report = text(f, judge(f, Budgets()))
    assert BEFORE not in report and AFTER not in report
    lines = report.splitlines()
    assert lines[:3] == [
        "migration rehearsal (django): 2 apps change (app03, app07)",
        "  app03: 0001_initial_with_a_long_name -> 0002_add_field",
        "  app07: 0001_initial_with_a_long_name -> 0002_rename",
    ]
    assert max(len(line) for line in lines) <= 300
    assert "now at the release's head" in report
