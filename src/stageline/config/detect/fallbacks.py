"""``stageline check``'s warnings: where a valid pipeline still lets the service fall
back silently. Pure over the loaded pipeline and the project's ``Tree``.

- The code reads a database variable but an environment declares no PostgreSQL (the
  service would run on its own default, often a SQLite file in its release folder).
- The code reads a database variable that an environment does not set (``DATABASE_URL``
  is always set when PostgreSQL is declared).
- The code names a SQLite database (a default that hides a missing variable).
- The health path is a route whose handler does not touch the database ("healthy" with
  the database unreachable), or no route of the code.
"""

from __future__ import annotations

from pathlib import Path

from stageline.config.detect import Tree
from stageline.config.detect.framework import find_app
from stageline.config.detect.routes import Route, project_routes
from stageline.config.detect.variables import database_role, sqlite_defaults, variables_read
from stageline.config.model import Pipeline

#: set by stageline whenever PostgreSQL is declared (or not a variable at all)
_GIVEN = ("DATABASE_URL", "DATABASES")


def _database_names(tree: Tree, root: str) -> list[str]:
    return sorted(n for n in variables_read(tree, root) if database_role(n) is not None)


def fallbacks(pipeline: Pipeline, tree: Tree) -> list[str]:
    """One warning per silent fallback, in a fixed order (empty: none found)."""
    warnings: list[str] = []
    entry = find_app(tree)
    root = entry.service_root if entry is not None else ""
    names = _database_names(tree, root)
    if entry is not None and entry.framework == "django":
        names = names or ["DATABASES"]
    bare = [env.name for env in pipeline.environments if env.postgres is None]
    if names and bare:
        warnings.append(
            f"the code reads its database from {', '.join(names)} but {', '.join(bare)} "
            "declare(s) no PostgreSQL: the service would fall back to its own default "
            "(declare [defaults.services.postgres])"
        )
    unset: dict[tuple[str, ...], list[str]] = {}
    for env in pipeline.environments:
        missing = tuple(n for n in names if n not in env.vars and n not in _GIVEN)
        if env.postgres is not None and missing:
            unset.setdefault(missing, []).append(env.name)
    for missing, envs in unset.items():
        warnings.append(
            f"{', '.join(envs)} do(es) not set {', '.join(missing)}, which the code reads for "
            "its database: it falls back to the code's default (map them in [defaults.vars], "
            'e.g. DB_HOST = "${postgres.host}")'
        )
    for path in sqlite_defaults(tree, root):
        warnings.append(f"{path} names a SQLite database: a missing variable would leave the "
                        "service on a file, \"healthy\"")  # fmt: skip
    warnings += _health(pipeline.service.health, project_routes(tree, entry, root), bool(names))
    return warnings


def _health(path: str, found: list[Route], reads_database: bool) -> list[str]:
    if not found:
        return []
    matching = [r for r in found if r.path.rstrip("/") == path.rstrip("/")]
    if not matching:
        if any(r.uncertain for r in found):
            return []
        return [f"health path {path} is not a route of the code: every deploy would fail its "
                "health check (set [service] health)"]  # fmt: skip
    route = matching[0]
    if reads_database and not route.touches_database:
        return [f"the health route {path} ({route.handler} in {route.file}) does not touch the "
                "database: a release with an unreachable database would look healthy"]  # fmt: skip
    return []


def fallback_warnings(pipeline: Pipeline, folder: Path) -> list[str]:
    """``fallbacks`` for the project in ``folder`` (the pipeline file's folder)."""
    return fallbacks(pipeline, Tree.at(folder))
