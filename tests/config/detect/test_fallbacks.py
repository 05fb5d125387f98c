"""`check`'s warnings: a valid pipeline that still lets the service fall back silently."""

from __future__ import annotations

from pathlib import Path

from stageline.config import load_pipeline
from stageline.config.detect.fallbacks import fallback_warnings
from stageline.config.starter import starter_for
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, make

PIPELINE = """\
[service]
name = "svc"
start = "gunicorn mysite.wsgi:application --bind 127.0.0.1:{{port}}"
health = "{health}"
{defaults}
[environments.staging]
target = {{ kind = "local", port = 8103 }}

[environments.production]
target = {{ kind = "local", port = 8104 }}
"""
POSTGRES = "\n[defaults.services.postgres]\nversion = 16\n"
MAPPED = (
    '\n[defaults.vars]\nDB_HOST = "${postgres.host}"\nDB_PORT = "${postgres.port}"\n'
    'DB_NAME = "${postgres.database}"\nDB_USER = "${postgres.user}"\n'
    'DB_PASSWORD = "${postgres.password}"\n'
)


def warnings_for(tmp_path: Path, files: dict[str, str], health: str, defaults: str) -> list[str]:
    make(tmp_path, files)
    (tmp_path / "stageline.toml").write_text(PIPELINE.format(health=health, defaults=defaults))
    return fallback_warnings(load_pipeline(tmp_path / "stageline.toml"), tmp_path)


def test_no_database_declared_while_the_code_reads_one(tmp_path: Path) -> None:
    warned = warnings_for(tmp_path, DJANGO_STATIC, "/health/", "")
    assert warned == [
        "the code reads its database from DB_HOST, DB_NAME, DB_PASSWORD, DB_PORT, DB_USER but "
        "staging, production declare(s) no PostgreSQL: the service would fall back to its own "
        "default (declare [defaults.services.postgres])"
    ]


def test_database_declared_but_the_codes_variables_not_set(tmp_path: Path) -> None:
    warned = warnings_for(tmp_path, DJANGO_STATIC, "/health/", POSTGRES)
    assert len(warned) == 1
    assert warned[0].startswith("staging, production do(es) not set DB_HOST, DB_NAME,")


def test_everything_mapped_is_quiet(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, DJANGO_STATIC, "/health/", POSTGRES + MAPPED) == []


def test_a_health_route_that_does_not_touch_the_database(tmp_path: Path) -> None:
    files = {**DJANGO_STATIC, "pages/urls.py": DJANGO_STATIC["pages/urls.py"].replace(
        "path('health/', views.health)", "path('health/', views.home)")}  # fmt: skip
    warned = warnings_for(tmp_path, files, "/health/", POSTGRES + MAPPED)
    assert warned == [
        "the health route /health/ (home in pages/views.py) does not touch the database: a release "
        "with an unreachable database would look healthy"
    ]


def test_a_health_path_that_is_no_route(tmp_path: Path) -> None:
    warned = warnings_for(tmp_path, DJANGO_STATIC, "/healthz", POSTGRES + MAPPED)
    assert warned == [
        "health path /healthz is not a route of the code: every deploy would fail its health "
        "check (set [service] health)"
    ]


def test_a_sqlite_default_is_named(tmp_path: Path) -> None:
    make(tmp_path, FLASK_REDIS)
    (tmp_path / "stageline.toml").write_text(starter_for(tmp_path))
    warned = fallback_warnings(load_pipeline(tmp_path / "stageline.toml"), tmp_path)
    assert warned == [
        "flaskr/__init__.py names a SQLite database: a missing variable would leave the service "
        'on a file, "healthy"'
    ]
