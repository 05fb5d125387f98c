"""`stageline init` and `stageline check` as a user runs them: real process, exit codes, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def stageline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args], cwd=cwd, capture_output=True, text=True
    )


def test_init_writes_a_file_that_checks(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "My_Shop"\nversion = "1"\n')
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    created = stageline("init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    text = (tmp_path / "stageline.toml").read_text()
    assert 'name = "my-shop"' in text and '"alembic.ini"' in text
    checked = stageline("check", "--json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert [e["name"] for e in report["environments"]] == [
        "development",
        "test",
        "staging",
        "production",
    ]


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text("# mine\n")
    result = stageline("init", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "stageline.toml").read_text() == "# mine\n"


def test_check_reports_every_problem_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "shop"\n\n[environments.staging]\n'
        'target = { kind = "local", port = 8000 }\ncolour = "red"\n'
    )
    result = stageline("check", cwd=tmp_path)
    assert result.returncode == 2
    assert "stageline.toml:1: service.start: missing required key 'start'" in result.stderr
    assert "stageline.toml:6: environments.staging.colour: unknown key 'colour'" in result.stderr
    as_json = json.loads(stageline("check", "--json", cwd=tmp_path).stdout)
    assert as_json["ok"] is False
    assert [(i["line"], i["key"]) for i in as_json["issues"]] == [
        (1, "service.start"),
        (6, "environments.staging.colour"),
    ]


def test_missing_pipeline_file_is_a_one_line_usage_error(tmp_path: Path) -> None:
    result = stageline("check", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: no stageline.toml")
    assert "stageline init" in result.stderr


def test_init_reads_the_project_and_check_warns_of_its_fallbacks(tmp_path: Path) -> None:
    from tests.config.detect.shapes import FLASK_REDIS, make

    make(tmp_path, FLASK_REDIS)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    for tag in ("release-1.0", "release-1.1"):
        subprocess.run([*git, "tag", tag], check=True)
    created = stageline("init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    text = (tmp_path / "stageline.toml").read_text()
    assert 'accept = ["release-*"]' in text
    assert "start = \"gunicorn 'flaskr:create_app()' --bind {host}:{port}\"" in text
    # what init could not tell is asked, on the terminal too
    assert "warning: flaskr/__init__.py: a SQLite database is named there" in created.stderr
    checked = stageline("check", "--json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["warnings"] == [
        "flaskr/__init__.py names a SQLite database: a missing variable would leave the service "
        'on a file, "healthy"'
    ]
