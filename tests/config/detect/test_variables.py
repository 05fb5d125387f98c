"""The variables the code reads, and what the pipeline file gives them."""

from __future__ import annotations

import ast
from pathlib import Path

from stageline.config.detect.tree import Requirements
from stageline.config.detect.variables import (
    DRIVER_URL,
    database_role,
    looks_secret,
    mapping,
    reads_in,
    required_in,
    sqlite_defaults,
    variables_read,
)
from tests.config.detect.shapes import make

CODE = """
import os
from os import environ, getenv
import environ as django_environ
from decouple import config
from pydantic_settings import BaseSettings
from stageline import runtime

A = os.environ["A_SUBSCRIPT"]
B = os.environ.get("B_GET", "x")
C = os.getenv("C_GETENV")
D = environ.get("D_ENVIRON_GET")
E = getenv("E_BARE")
env = django_environ.Env()
F = env("F_ENV_CALL")
G = env.db("G_ENV_DB")
H = config("H_DECOUPLE", default="1")
lower = os.environ.get("not_a_name")
dynamic = os.environ.get(A)

class Settings(BaseSettings):
    postgres_server: str
    POSTGRES_PORT: int = 5432
    model_config = {}

SPEC = runtime.Settings(I_RUNTIME=runtime.string())
"""


def test_every_form_of_read_is_found() -> None:
    assert reads_in(ast.parse(CODE)) == {
        "A_SUBSCRIPT", "B_GET", "C_GETENV", "D_ENVIRON_GET", "E_BARE", "F_ENV_CALL",
        "G_ENV_DB", "H_DECOUPLE", "POSTGRES_SERVER", "POSTGRES_PORT", "I_RUNTIME",
    }  # fmt: skip


def test_reads_without_a_default_are_required() -> None:
    assert required_in(ast.parse(CODE)) == {"A_SUBSCRIPT", "F_ENV_CALL", "POSTGRES_SERVER"}


def test_tests_and_docs_are_not_the_service(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "app/settings.py": "import os\nX = os.environ['APP_X']\n",
        "tests/conftest.py": "import os\nT = os.environ['TEST_DATABASE_URL']\n",
        "migrations/env.py": "import os\nM = os.getenv('MIGRATION_DB_URL')\n",
    })  # fmt: skip
    assert variables_read(tree) == {"APP_X", "MIGRATION_DB_URL"}


def test_database_roles() -> None:
    roles = {name: database_role(name) for name in (
        "DATABASE_URL", "SQLALCHEMY_DATABASE_URI", "POSTGRES_DSN", "POSTGRES_SERVER", "DB_HOST",
        "PGHOST", "DJANGO_DB_PORT", "POSTGRES_DB", "DB_NAME", "DATABASE_USER", "DB_PASS",
        "PGPASSWORD", "DB_ENGINE", "REDIS_URL", "SECRET_KEY",
    )}  # fmt: skip
    assert roles == {
        "DATABASE_URL": "url", "SQLALCHEMY_DATABASE_URI": "url", "POSTGRES_DSN": "url",
        "POSTGRES_SERVER": "host", "DB_HOST": "host", "PGHOST": "host", "DJANGO_DB_PORT": "port",
        "POSTGRES_DB": "database", "DB_NAME": "database", "DATABASE_USER": "user",
        "DB_PASS": "password", "PGPASSWORD": "password", "DB_ENGINE": None, "REDIS_URL": None,
        "SECRET_KEY": None,
    }  # fmt: skip


PLAIN = Requirements({"django": "", "psycopg2-binary": ""}, {}, {})


def test_mapping_fills_the_names_from_the_environments_services() -> None:
    names = {"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DATABASE_URL",
             "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "CELERY_BROKER_URL", "REDIS_PORT",
             "OTHER"}  # fmt: skip
    found = mapping(names, PLAIN, "")
    assert found.database == {
        "DB_HOST": "${postgres.host}", "DB_NAME": "${postgres.database}",
        "DB_PASSWORD": "${postgres.password}", "DB_PORT": "${postgres.port}",
        "DB_USER": "${postgres.user}", "SQLALCHEMY_DATABASE_URI": "${postgres.url}",
    }  # fmt: skip
    assert found.redis == {
        "CELERY_BROKER_URL": "${redis.url}", "REDIS_PORT": "${redis.port}",
        "REDIS_URL": "${redis.url}",
    }  # fmt: skip
    assert found.needs_database and found.needs_redis


def test_psycopg3_with_sqlalchemy_gets_its_driver_in_the_url() -> None:
    three = Requirements({"flask-sqlalchemy": "", "psycopg": ""}, {}, {})
    assert mapping({"DATABASE_URL"}, three, "").database == {"DATABASE_URL": DRIVER_URL}
    # the code rewrites the scheme itself: stageline's DATABASE_URL is left alone
    assert mapping({"DATABASE_URL"}, three, "'postgresql+psycopg://'").database == {}
    assert mapping({"DATABASE_URL"}, PLAIN, "").database == {}


def test_django_needs_a_database_even_without_variables() -> None:
    assert mapping(set(), PLAIN, "", django=True).needs_database
    assert not mapping({"OTHER"}, PLAIN, "").needs_database


def test_secret_looking_names() -> None:
    assert [n for n in ("DJANGO_SECRET_KEY", "API_KEY", "GITHUB_TOKEN", "KEYCLOAK_URL", "MONKEY")
            if looks_secret(n)] == ["DJANGO_SECRET_KEY", "API_KEY", "GITHUB_TOKEN"]  # fmt: skip


def test_sqlite_defaults_skip_comments_and_migrations(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "a/settings.py": "DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3'}}\n",
        "b/settings.py": "# DB = 'sqlite:///x.db'\nDB = 'postgresql://'\n",
        "c/config.py": "URL = os.environ.get('DATABASE_URL', 'sqlite:///app.db')\n",
        "c/migrations/versions/0001.py": "URL = 'sqlite:///x'\n",
    })  # fmt: skip
    assert sqlite_defaults(tree) == ["a/settings.py", "c/config.py"]


def test_a_settings_prefix_is_part_of_the_names() -> None:
    code = (
        "class Settings(BaseSettings):\n"
        "    model_config = SettingsConfigDict(env_prefix='app_')\n"
        "    db_host: str\n    db_port: int = 5432\n"
    )
    assert reads_in(ast.parse(code)) == {"APP_DB_HOST", "APP_DB_PORT"}
    assert required_in(ast.parse(code)) == {"APP_DB_HOST"}
