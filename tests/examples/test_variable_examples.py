"""The examples that read their own variables work as they claim: ``examples/fastapi-pg``
(Alembic's ``env.py`` reads ``POSTGRES_*``) and ``examples/django-pg`` (Django reads
``DB_*``) migrate a real PostgreSQL up and down in both releases from those variables
alone, with ``DATABASE_URL`` naming a database that does not exist; Django's models
agree with its migrations in both releases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from tests.e2e.helpers import EXAMPLE_TAGS, example_repo

pytestmark = pytest.mark.slow
OLD, NEW = EXAMPLE_TAGS
#: name -> (its variables for host, port, database, user, password; the commands that
#: migrate up, and down to the first release; the revision query)
EXAMPLES = {
    "fastapi-pg": (
        ("POSTGRES_SERVER", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"),
        ["-m", "alembic", "upgrade", "head"],
        ["-m", "alembic", "downgrade", "0001"],
        "SELECT version_num FROM alembic_version",
    ),
    "django-pg": (
        ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"),
        ["manage.py", "migrate", "--noinput"],
        ["manage.py", "migrate", "books", "0001_initial", "--noinput"],
        "SELECT name FROM django_migrations WHERE app = 'books' ORDER BY id DESC LIMIT 1",
    ),
}
REVISIONS = {"fastapi-pg": ("0001", "0002"), "django-pg": ("0001_initial", "0002_priority")}


def own_variables(name: str, url: str) -> dict[str, str]:
    """The example's variables for the database at ``url``; DATABASE_URL names nothing."""
    parts = urlsplit(url)
    values = (parts.hostname, str(parts.port), parts.path.lstrip("/"), parts.username,
              parts.password or "")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATABASE_"))}
    env.update(zip(EXAMPLES[name][0], (str(v) for v in values), strict=True))
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/does_not_exist"
    env["PYTHONPATH"] = "src"  # the package of fastapi-pg; django-pg runs from its tree
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(repo: Path, args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def checkout(repo: Path, tag: str) -> None:
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", tag], check=True)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_migrates_up_and_down_from_its_own_variables(
    name: str, postgres_url: str, tmp_path: Path
) -> None:
    repo = example_repo(name, tmp_path / name)
    _variables, upgrade, downgrade, revision = EXAMPLES[name]
    env = own_variables(name, postgres_url)

    def at() -> str:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute(revision).fetchone()
        return str(row[0]) if row else ""

    first, second = REVISIONS[name]
    checkout(repo, OLD)
    run(repo, upgrade, env)
    assert at() == first
    checkout(repo, NEW)
    run(repo, upgrade, env)
    assert at() == second
    run(repo, downgrade, env)
    assert at() == first


@pytest.mark.parametrize("tag", EXAMPLE_TAGS)
def test_django_models_agree_with_migrations(tag: str, postgres_url: str, tmp_path: Path) -> None:
    repo = example_repo("django-pg", tmp_path / "django-pg")
    checkout(repo, tag)
    output = run(
        repo,
        ["manage.py", "makemigrations", "--check", "--dry-run"],
        own_variables("django-pg", postgres_url),
    )
    assert "No changes detected" in output
