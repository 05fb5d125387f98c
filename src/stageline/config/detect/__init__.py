"""Reading a project to write its pipeline file (``stageline init``) and to warn where a
written one lets the service fall back silently (``stageline check``).

Static reading only: files as text and syntax trees, never imported, never run. One
module per concern, each pure over a ``tree.Tree``:

    tree.py        the files, their text and syntax trees; declared dependencies
    framework.py   framework, application object, service root, start command
    variables.py   variables the code reads; the database and Redis ones mapped
    migrations.py  Alembic (any alembic.ini), Flask-Migrate, Django
    routes.py      routes, the health route, whether a handler touches the database
    build.py       lock, build steps, tests, tag patterns
    fallbacks.py   check's warnings: silent fallbacks of a loaded pipeline

``detect(tree, tags)`` gathers them into one ``Project``; ``config.starter`` renders it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.config.detect.build import (
    Lock,
    Suite,
    accept_patterns,
    build_steps,
    find_lock,
    find_tests,
)
from stageline.config.detect.framework import (
    Entry,
    Start,
    django_settings,
    find_app,
    start_command,
)
from stageline.config.detect.migrations import Migrations, find_migrations
from stageline.config.detect.routes import Health, choose_health, project_routes
from stageline.config.detect.tree import Requirements, Tree, join, requirements, table
from stageline.config.detect.variables import (
    Mapping,
    database_role,
    looks_secret,
    mapping,
    redis_role,
    sqlite_defaults,
    variables_read,
)

__all__ = ["Project", "Tree", "detect"]


@dataclass(frozen=True)
class Project:
    """Everything init found, and the questions it could not answer."""

    name: str
    entry: Entry | None
    start: Start
    root: str
    deps: Requirements
    migrations: Migrations | None
    variables: Mapping
    #: variables read with a default, that nothing here sets (mentioned only)
    others: list[str]
    #: variables read with no default that look secret (declared as secrets) ...
    secrets: list[str]
    #: ... and the other ones (a question each)
    required: list[str]
    health: Health
    lock: Lock | None
    build: list[str]
    tests: Suite | None
    tags: list[str]
    accept: list[str]
    sqlite: list[str]


def service_name(tree: Tree, root: str) -> str:
    """The project's name from its ``pyproject.toml`` (service root, then the top), else
    the folder's name, made a valid pipeline name."""
    raw = tree.root.resolve().name if not root else root.rsplit("/", 1)[-1]
    for folder in (root, "") if root else ("",):
        found = table(tree.toml(join(folder, "pyproject.toml")), "project").get("name")
        if isinstance(found, str) and found:
            raw = found
            break
    name = re.sub(r"[^a-z0-9-]+", "-", str(raw).lower()).strip("-")
    return name if name and name[0].isalpha() else f"service-{name or 'app'}"


#: variables stageline sets itself, or that every process has
_GIVEN = frozenset({
    "DATABASE_URL", "APP_ENV", "PORT", "STAGELINE_VERSION", "STAGELINE_DIGEST",
    "STAGELINE_ENVIRONMENT", "STAGELINE_TIER", "STAGELINE_URL", "STAGELINE_SECRET_NAMES",
    "HOME", "PATH", "DJANGO_SETTINGS_MODULE", "FLASK_APP", "PYTHONPATH", "TZ", "USER",
})  # fmt: skip


def detect(tree: Tree, tags: list[str]) -> Project:
    """Read the project in ``tree`` (``tags``: its git tags) into a ``Project``."""
    entry = find_app(tree)
    root = entry.service_root if entry is not None else ""
    deps = requirements(tree, root)
    if entry is None:
        start = Start("uvicorn app:app --host {host} --port {port}",
                      "no application found in the code: how is the service started?")  # fmt: skip
    else:
        start = start_command(entry, deps)
    names = variables_read(tree, root)
    code = "\n".join(tree.text(p) for p in tree.python_files(root))
    django = entry is not None and entry.framework == "django"
    found = mapping(names, deps, code, django=django)
    mapped = set(found.database) | set(found.redis) | _GIVEN
    unmapped = {n for n in names - mapped if not database_role(n) and not redis_role(n)}
    needed = variables_read(tree, root, required=True) & unmapped
    settings_file = (django_settings(tree) or ("", "", ""))[2] if django else ""
    return Project(
        name=service_name(tree, root), entry=entry, start=start, root=root, deps=deps,
        migrations=find_migrations(tree, root, entry), variables=found,
        others=sorted(unmapped - needed), secrets=sorted(n for n in needed if looks_secret(n)),
        required=sorted(n for n in needed if not looks_secret(n)),
        health=choose_health(project_routes(tree, entry, root)), lock=find_lock(tree, root),
        build=build_steps(tree, root, deps, settings_file), tests=find_tests(tree, root, deps),
        tags=tags, accept=accept_patterns(tags), sqlite=sqlite_defaults(tree, root),
    )  # fmt: skip
