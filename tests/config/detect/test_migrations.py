"""The migration tool, where its files are and how a deploy runs it."""

from __future__ import annotations

from pathlib import Path

from stageline.config.detect.framework import find_app
from stageline.config.detect.migrations import Migrations, find_migrations
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, MONOREPO_FASTAPI, make


def test_alembic_at_the_service_root_bundles_its_script_folder(tmp_path: Path) -> None:
    tree = make(tmp_path, MONOREPO_FASTAPI)
    found = find_migrations(tree, "backend", find_app(tree))
    assert found == Migrations(
        "alembic", "alembic upgrade head", {}, ("alembic.ini", "app/alembic/")
    )


def test_alembic_ini_anywhere_is_named_by_config(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "app.py": "from fastapi import FastAPI\napp = FastAPI()\n",
        "db/alembic.ini": "[alembic]\nscript_location = %(here)s/versions\n",
        "db/versions/env.py": "from alembic import context\n",
    })  # fmt: skip
    found = find_migrations(tree, "", find_app(tree))
    assert found == Migrations(
        "alembic", "alembic -c db/alembic.ini upgrade head", {"config": "db/alembic.ini"},
        ("db/alembic.ini", "db/versions/"),
    )  # fmt: skip


def test_flask_migrate_runs_through_flask_with_the_app(tmp_path: Path) -> None:
    tree = make(tmp_path, FLASK_REDIS)
    found = find_migrations(tree, "", find_app(tree))
    assert found == Migrations(
        "flask-migrate", "flask --app flaskr db upgrade", {"app": "flaskr"}, ("migrations/",)
    )


def test_flask_migrate_in_another_folder_names_it(tmp_path: Path) -> None:
    files = {k.replace("migrations/", "db/schema/"): v for k, v in FLASK_REDIS.items()}
    tree = make(tmp_path, files)
    found = find_migrations(tree, "", find_app(tree))
    assert found is not None and found.tool == "flask-migrate"
    assert found.release == "flask --app flaskr db upgrade --directory db/schema"
    assert found.options == {"app": "flaskr", "directory": "db/schema"}


def test_django_migrates_with_manage_py(tmp_path: Path) -> None:
    tree = make(tmp_path, DJANGO_STATIC)
    found = find_migrations(tree, "", find_app(tree))
    assert found == Migrations("django", "python manage.py migrate --noinput")


def test_no_tool_is_none(tmp_path: Path) -> None:
    tree = make(tmp_path, {"app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert find_migrations(tree, "", find_app(tree)) is None
