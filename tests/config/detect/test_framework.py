"""Framework, application object, service root and start command, read from small trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config.detect.framework import Entry, find_app, start_command
from stageline.config.detect.tree import Requirements, requirements
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, MONOREPO_FASTAPI, make


def test_fastapi_in_a_workspace_member_is_started_from_its_folder(tmp_path: Path) -> None:
    tree = make(tmp_path, MONOREPO_FASTAPI)
    entry = find_app(tree)
    assert entry == Entry("fastapi", "backend/app/main.py", "app.main", "app", "backend", "backend")
    start = start_command(entry, requirements(tree, "backend"))  # fastapi[standard]: uvicorn
    assert start.command == "uvicorn app.main:app --host {host} --port {port}"
    assert start.question == ""


def test_flask_factory_runs_under_gunicorn_with_its_pin(tmp_path: Path) -> None:
    tree = make(tmp_path, FLASK_REDIS)
    entry = find_app(tree)
    assert entry is not None and entry.target == "flaskr:create_app()"
    assert entry.framework == "flask" and entry.service_root == ""
    start = start_command(entry, requirements(tree, ""))
    # gunicorn==23.0.0 in requirements.txt: older than the control socket (25.1)
    assert start.command == "gunicorn 'flaskr:create_app()' --bind {host}:{port}"


def test_django_wsgi_module_comes_from_the_settings(tmp_path: Path) -> None:
    files = {**DJANGO_STATIC, "requirements.txt": "Django==5.1.4\ngunicorn\n"}
    tree = make(tmp_path, files)
    entry = find_app(tree)
    assert entry is not None and entry.target == "mysite.wsgi:application"
    start = start_command(entry, requirements(tree, ""))
    assert start.command == (
        "gunicorn mysite.wsgi:application --bind {host}:{port} --no-control-socket"
    )


def test_an_app_made_by_a_factory_at_module_level_is_the_app(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "pyproject.toml": '[project]\nname = "shop"\ndependencies = ["fastapi", "uvicorn"]\n',
        "src/shop/__init__.py": "",
        "src/shop/app.py": "from fastapi import FastAPI\n\ndef create_app(settings=None):\n"
        "    return FastAPI()\n\napp = create_app()\n",
        "tests/test_app.py": "from fastapi import FastAPI\napp = FastAPI()\n",
    })  # fmt: skip
    entry = find_app(tree)
    assert entry is not None
    assert (entry.path, entry.target, entry.import_root, entry.service_root) == (
        "src/shop/app.py", "shop.app:app", "src", ""
    )  # fmt: skip


def test_no_application_is_none(tmp_path: Path) -> None:
    assert find_app(make(tmp_path, {"tool.py": "print('hello')\n"})) is None


ENTRY = Entry("fastapi", "app/main.py", "app.main", "app", "", "")
FLASK = Entry("flask", "app/__init__.py", "app", "create_app()", "", "")
DJANGO = Entry("django", "proj/wsgi.py", "proj.wsgi", "application", "", "")


def deps(**pins: str) -> Requirements:
    return Requirements(dict(pins), {}, {})


@pytest.mark.parametrize(
    ("entry", "given", "command"),
    [
        (ENTRY, deps(hypercorn=""), "hypercorn 'app.main:app' --bind {host}:{port}"),
        (ENTRY, deps(granian=""),
         "granian --interface asgi app.main:app --host {host} --port {port}"),
        (ENTRY, deps(gunicorn="==26.0"), "gunicorn app.main:app --worker-class "
         "uvicorn.workers.UvicornWorker --bind {host}:{port} --no-control-socket"),
        (FLASK, deps(waitress=""),
         "waitress-serve --listen={host}:{port} --call app:create_app"),
        (FLASK, deps(uvicorn=""),
         "flask --app 'app:create_app()' run --host {host} --port {port}"),
        (DJANGO, deps(), "python manage.py runserver {host}:{port} --noreload"),
    ],
)  # fmt: skip
def test_the_server_is_the_one_the_service_depends_on(
    entry: Entry, given: Requirements, command: str
) -> None:
    assert start_command(entry, given).command == command


def test_a_missing_server_is_a_question() -> None:
    assert "add uvicorn" in start_command(ENTRY, deps()).question
    assert "add gunicorn" in start_command(DJANGO, deps()).question
    assert start_command(ENTRY, deps(uvicorn="")).question == ""


def test_an_import_root_below_the_service_root_is_passed_to_uvicorn() -> None:
    entry = Entry("fastapi", "backend/api/app/main.py", "app.main", "app", "backend/api", "backend")
    start = start_command(entry, deps(uvicorn=""))
    assert start.command == "uvicorn app.main:app --app-dir api --host {host} --port {port}"
