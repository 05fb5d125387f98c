"""The environment variables the service's code reads, and what stageline gives each.

Reads are found in the syntax trees of the service's code (tests excluded, migration
environments included): ``os.environ["X"]``, ``os.environ.get("X")``, ``os.getenv("X")``,
``environ.get``, django-environ and python-decouple calls (``env("X")``, ``env.db("X")``,
``config("X")``), pydantic ``BaseSettings`` fields and ``stageline.runtime.Settings``
keywords. ``mapping(names, deps, code)`` turns the database and Redis names among them
into ``[defaults.vars]`` values (``POSTGRES_SERVER`` -> ``${postgres.host}``,
``REDIS_URL`` -> ``${redis.url}``). Pure.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from stageline.config.detect.tree import Requirements, Tree, uncommented

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
#: methods that read a variable by name on an environ-like object
_READERS = frozenset({
    "get", "getenv", "setdefault", "pop", "str", "int", "bool", "float", "list", "json",
    "db", "db_url", "url", "cache", "cache_url", "path",
})  # fmt: skip
_CALLS = frozenset({"getenv", "env", "config", "Env"})


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id.lower()
    if isinstance(node, ast.Attribute):
        return node.attr.lower()
    return ""


def _read(node: ast.AST) -> str | None:
    """The variable name one node reads, if it reads one."""
    if isinstance(node, ast.Subscript) and "environ" in _receiver(node.value):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value
    if isinstance(node, ast.Call) and node.args:
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            return None
        func = node.func
        if isinstance(func, ast.Name) and func.id in _CALLS:
            return first.value
        if isinstance(func, ast.Attribute) and func.attr in _READERS:
            receiver = _receiver(func.value)
            if "environ" in receiver or "env" in receiver or receiver in ("os", "config"):
                return first.value
    return None


def _env_prefix(node: ast.ClassDef) -> str:
    """A settings class's ``env_prefix`` (``model_config = SettingsConfigDict(...)`` or an
    inner ``class Config``), when it is a constant."""
    for item in ast.walk(node):
        keyword = isinstance(item, ast.keyword) and item.arg == "env_prefix"
        assigned = (
            isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == "env_prefix"
        )
        value = getattr(item, "value", None) if keyword or assigned else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value.upper()
    return ""


def _settings_fields(node: ast.ClassDef) -> list[str]:
    bases = [_receiver(base) for base in node.bases]
    if not any("settings" in base for base in bases):
        return []
    prefix = _env_prefix(node)
    return [
        prefix + item.target.id.upper() for item in node.body
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        and not item.target.id.startswith("_") and item.target.id != "model_config"
    ]  # fmt: skip


def _keywords(node: ast.Call) -> list[str]:
    func = node.func
    name = (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )
    if name != "Settings":
        return []
    return [k.arg for k in node.keywords if k.arg is not None]


def reads_in(module: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(module):
        name = _read(node)
        if name is not None:
            found.add(name)
        if isinstance(node, ast.ClassDef):
            found.update(_settings_fields(node))
        if isinstance(node, ast.Call):
            found.update(_keywords(node))
    return {name for name in found if _NAME.match(name)}


def _required(node: ast.AST) -> str | None:
    """The variable a node reads with no default: ``os.environ["X"]``, ``env("X")``, a
    settings field without a value."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return _read(node)
    plain = isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords
    if plain and isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _read(node) if node.func.id in ("env", "config") else None
    return None


def required_in(module: ast.Module) -> set[str]:
    found = {name for node in ast.walk(module) if (name := _required(node)) is not None}
    for node in ast.walk(module):
        if isinstance(node, ast.ClassDef) and _settings_fields(node):
            found.update(
                _env_prefix(node) + item.target.id.upper() for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                and item.value is None
            )  # fmt: skip
    return {name for name in found if _NAME.match(name)}


def _is_read_code(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    if name.startswith("test_") or name == "conftest.py" or name.endswith("_test.py"):
        return False
    return not any(p in ("tests", "test", "docs", "examples") for p in parts[:-1])


def variables_read(tree: Tree, under: str = "", *, required: bool = False) -> set[str]:
    """Every upper-case variable name the code under ``under`` reads (``required``: only
    those it reads with no default)."""
    found: set[str] = set()
    for path in tree.python_files(under):
        module = tree.python(path) if _is_read_code(path) else None
        if module is not None:
            found |= required_in(module) if required else reads_in(module)
    return found


_SECRET = re.compile(r"SECRET|PASSWORD|TOKEN|(?:^|_)KEY(?:$|_)|CREDENTIAL|PRIVATE")


def looks_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


_PREFIX = r"^(?:[A-Z0-9]+_)*?"
_DB = r"(?:DB|DATABASE|POSTGRES|POSTGRESQL|PG|PSQL)_?"
_ROLES = {
    "url": re.compile(_PREFIX + r"(?:" + _DB + r"(?:URL|URI|DSN)|SQLALCHEMY_DATABASE_UR[IL])$"),
    "host": re.compile(_PREFIX + _DB + r"(?:HOST|SERVER|HOSTNAME|ADDR)$"),
    "port": re.compile(_PREFIX + _DB + r"PORT$"),
    "database": re.compile(_PREFIX + _DB + r"(?:NAME|DB|DATABASE|DBNAME)$"),
    "user": re.compile(_PREFIX + _DB + r"(?:USER|USERNAME|LOGIN)$"),
    "password": re.compile(_PREFIX + _DB + r"(?:PASSWORD|PASS|PWD)$"),
}
_REDIS = {
    "url": re.compile(
        r"^(?:[A-Z0-9]+_)*?(?:REDIS_(?:URL|URI|DSN)|(?:CELERY_)?BROKER_URL|RQ_REDIS_URL)$"
    ),
    "host": re.compile(r"^(?:[A-Z0-9]+_)*?REDIS_HOST$"),
    "port": re.compile(r"^(?:[A-Z0-9]+_)*?REDIS_PORT$"),
}


def database_role(name: str) -> str | None:
    """Which part of the database a variable names (url, host, port, ...), or None."""
    if name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"):
        return {"PGHOST": "host", "PGPORT": "port", "PGDATABASE": "database",
                "PGUSER": "user", "PGPASSWORD": "password"}[name]  # fmt: skip
    return next((role for role, rx in _ROLES.items() if rx.match(name)), None)


def redis_role(name: str) -> str | None:
    return next((role for role, rx in _REDIS.items() if rx.match(name)), None)


@dataclass(frozen=True)
class Mapping:
    """What the pipeline file gives the variables the code reads."""

    #: name -> value, for [defaults.vars]
    database: dict[str, str]
    redis: dict[str, str]
    #: the code reads a database variable (or is Django), so it needs one declared
    needs_database: bool
    needs_redis: bool


def _psycopg3_only(deps: Requirements, code: str) -> bool:
    """SQLAlchemy with psycopg 3 and no psycopg2: ``postgresql://`` would ask for psycopg2
    unless the code itself rewrites the scheme."""
    three = deps.has("psycopg", "psycopg-binary")
    two = deps.has("psycopg2", "psycopg2-binary")
    return (
        deps.has("sqlalchemy", "flask-sqlalchemy", "sqlmodel")
        and three
        and not two
        and ("+psycopg" not in code)
    )


DRIVER_URL = (
    "postgresql+psycopg://${postgres.user}:${postgres.password}@${postgres.host}:"
    "${postgres.port}/${postgres.database}"
)


def mapping(names: set[str], deps: Requirements, code: str, *, django: bool = False) -> Mapping:
    """The ``[defaults.vars]`` entries for the database and Redis variables in ``names``.
    ``DATABASE_URL`` is set by stageline already; it is written only when the driver needs
    another scheme. ``code`` is the service's code as text (to see a scheme rewrite)."""
    database: dict[str, str] = {}
    redis: dict[str, str] = {}
    driver = _psycopg3_only(deps, code)
    for name in sorted(names):
        role = database_role(name)
        if role == "url":
            if driver:
                database[name] = DRIVER_URL
            elif name != "DATABASE_URL":
                database[name] = "${postgres.url}"
        elif role is not None:
            database[name] = f"${{postgres.{role}}}"
        elif (redis_part := redis_role(name)) is not None:
            redis[name] = f"${{redis.{redis_part}}}"
    reads_db = django or any(database_role(n) for n in names)
    return Mapping(database, redis, reads_db, bool(redis))


_SQLITE = re.compile(r"sqlite(?:3)?:///|django\.db\.backends\.sqlite3")


def sqlite_defaults(tree: Tree, under: str = "") -> list[str]:
    """Files of the service's code that name a SQLite database (a silent fallback when
    the PostgreSQL variables are missing)."""
    return [
        path for path in tree.python_files(under)
        if _is_read_code(path) and "/migrations/" not in f"/{path}"
        and _SQLITE.search(uncommented(tree.text(path)))
    ]  # fmt: skip
