"""The file init writes for each shape: it loads (so `check` passes), says what it found,
and asks what it could not tell. Keys this stageline does not read yet become questions."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.starter import Supports, questions, starter_for
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, MONOREPO_FASTAPI, make

ALL = Supports(root=True, tests=True, redis=True)
NONE = Supports(root=False, tests=False, redis=False)
TAGS = ["v1.1.0", "v1.0.0"]


@pytest.mark.parametrize("shape", [MONOREPO_FASTAPI, DJANGO_STATIC, FLASK_REDIS])
def test_the_written_file_passes_check(tmp_path: Path, shape: dict[str, str]) -> None:
    make(tmp_path, shape)
    (tmp_path / "stageline.toml").write_text(starter_for(tmp_path, TAGS))
    pipeline = load_pipeline(tmp_path / "stageline.toml")
    assert pipeline.environments[0].accept == ["v*"]
    assert pipeline.environment("staging").postgres is not None


def test_monorepo_fastapi(tmp_path: Path) -> None:
    make(tmp_path, MONOREPO_FASTAPI)
    text = starter_for(tmp_path, TAGS, supports=ALL)
    data = tomllib.loads(text)
    service = data["service"]
    assert service["name"] == "app" and service["root"] == "backend"
    assert service["start"] == "uvicorn app.main:app --host {host} --port {port}"
    assert service["health"] == "/api/v1/utils/health-check/"
    assert service["release"] == "alembic upgrade head"
    assert service["bundle"] == ["alembic.ini", "app/alembic/"]  # tests: [service.tests]
    assert service["tests"] == {"group": "dev", "paths": ["tests"]}
    assert data["defaults"]["vars"] == {
        "POSTGRES_DB": "${postgres.database}", "POSTGRES_PASSWORD": "${postgres.password}",
        "POSTGRES_PORT": "${postgres.port}", "POSTGRES_SERVER": "${postgres.host}",
        "POSTGRES_USER": "${postgres.user}",
    }  # fmt: skip
    gates = data["environments"]["staging"]["gates"]
    assert gates["migrations"] == {"kind": "migrations", "tool": "alembic", "timeout": 300}
    assert gates["tests"]["path"] == "tests"
    assert questions(text) == []
    without = starter_for(tmp_path, TAGS, supports=NONE)
    assert "root" not in tomllib.loads(without)["service"]
    assert questions(without)[0].startswith("the service lives in backend/")


def test_django_static(tmp_path: Path) -> None:
    make(tmp_path, DJANGO_STATIC)
    text = starter_for(tmp_path, [], supports=ALL)
    data = tomllib.loads(text)
    service = data["service"]
    assert service["start"] == "gunicorn mysite.wsgi:application --bind {host}:{port}"
    assert service["health"] == "/health/"
    assert service["release"] == "python manage.py migrate --noinput"
    assert service["build"] == [
        "python manage.py collectstatic --noinput", "python manage.py compress --force"
    ]  # fmt: skip
    assert data["defaults"]["secrets"] == ["DJANGO_SECRET_KEY"]
    assert data["defaults"]["vars"]["DB_HOST"] == "${postgres.host}"
    assert data["environments"]["staging"]["gates"]["migrations"]["tool"] == "django"
    assert questions(text) == [
        "the repository has no tags yet: which will name releases? (v1.2.0 below)"
    ]


def test_flask_redis(tmp_path: Path) -> None:
    make(tmp_path, FLASK_REDIS)
    text = starter_for(tmp_path, TAGS, supports=ALL)
    data = tomllib.loads(text)
    service = data["service"]
    assert service["start"] == "gunicorn 'flaskr:create_app()' --bind {host}:{port}"
    assert service["release"] == "flask --app flaskr db upgrade"
    assert service["build"] == ["pybabel compile -d flaskr/translations"]
    assert data["defaults"]["vars"]["REDIS_URL"] == "${redis.url}"
    assert data["defaults"]["vars"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert data["defaults"]["services"]["redis"] == {"provider": "system"}
    migrations = data["environments"]["staging"]["gates"]["migrations"]
    assert migrations == {"kind": "migrations", "tool": "flask-migrate", "app": "flaskr",
                          "timeout": 300}  # fmt: skip
    assert [q.split(":")[0] for q in questions(text)] == ["flaskr/__init__.py"]
    without = tomllib.loads(starter_for(tmp_path, TAGS, supports=NONE))
    assert "REDIS_URL" not in without["defaults"]["vars"]
    assert "redis" not in without["defaults"]["services"]
