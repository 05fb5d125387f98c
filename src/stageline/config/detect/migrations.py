"""Which migration tool the service uses, where its files are, and how to run it. Pure.

- Django: the project has a ``manage.py`` (``python manage.py migrate --noinput``).
- Flask-Migrate: an Alembic environment (``env.py``) that uses Flask's ``current_app``,
  usually ``migrations/`` with its own ``alembic.ini`` inside; run as ``flask --app APP
  db upgrade`` (``--directory`` when it is not ``migrations``).
- Alembic: an ``alembic.ini`` anywhere in the service (``alembic -c PATH upgrade head``
  when it is not at the service root), its ``script_location`` folder bundled with it.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field

from stageline.config.detect.framework import Entry
from stageline.config.detect.tree import Tree, join, parent


@dataclass(frozen=True)
class Migrations:
    """The migration tool as the pipeline file declares it."""

    tool: str  # alembic | flask-migrate | django
    #: the command run once per deploy, before the release takes traffic
    release: str
    #: the migrations gate's options beyond ``tool``
    options: dict[str, str] = field(default_factory=dict)
    #: files and folders (relative to the service root) the artifact must carry
    bundle: tuple[str, ...] = ()


def _relative(path: str, root: str) -> str:
    return path[len(root) + 1 :] if root and path.startswith(root + "/") else path


def _script_location(tree: Tree, ini: str) -> str:
    """The folder an ``alembic.ini`` names for its scripts, relative to the tree."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(tree.text(ini))
        location = parser.get("alembic", "script_location", fallback="")
    except configparser.Error:
        location = ""
    here = parent(ini)
    location = location.replace("%(here)s/", "").replace("%(here)s", "").strip()
    return join(here, location) if location and "%" not in location and ":" not in location else ""


def _uses_flask(tree: Tree, folder: str) -> bool:
    text = tree.text(join(folder, "env.py"))
    return "current_app" in text or "flask" in text.lower()


def find_migrations(tree: Tree, root: str, entry: Entry | None) -> Migrations | None:
    """The migration tool of the service rooted at ``root`` (None: none found)."""
    if entry is not None and entry.framework == "django":
        return Migrations("django", "python manage.py migrate --noinput")
    inside = [p for p in tree.files if not root or p.startswith(root + "/")]
    for env_py in sorted((p for p in inside if p.endswith("/env.py") or p == "env.py"),
                         key=lambda p: p.count("/")):  # fmt: skip
        folder = parent(env_py)
        if _uses_flask(tree, folder) and entry is not None and entry.framework == "flask":
            return _flask_migrate(folder, root, entry)
    inis = sorted((p for p in inside if p.rsplit("/", 1)[-1] == "alembic.ini"),
                  key=lambda p: p.count("/"))  # fmt: skip
    if inis:
        ini = inis[0]
        config = _relative(ini, root)
        scripts = _script_location(tree, ini)
        bundle = (config, *((_relative(scripts, root) + "/",) if scripts else ()))
        if config == "alembic.ini":
            return Migrations("alembic", "alembic upgrade head", {}, bundle)
        release = f"alembic -c {config} upgrade head"
        return Migrations("alembic", release, {"config": config}, bundle)
    return None


def _flask_migrate(folder: str, root: str, entry: Entry) -> Migrations:
    directory = _relative(folder, root)
    app = flask_app(entry)
    release = f"flask --app {app} db upgrade"
    options = {"app": app}
    if directory != "migrations":
        release += f" --directory {directory}"
        options["directory"] = directory
    return Migrations("flask-migrate", release, options, (directory + "/",))


def flask_app(entry: Entry) -> str:
    """``FLASK_APP`` for an entry: the module (Flask finds ``app`` or ``create_app``), or
    ``module:name`` when the object has another name."""
    if entry.attribute in ("app", "application", "create_app()", "make_app()"):
        return entry.module
    return f"{entry.module}:{entry.attribute.removesuffix('()')}"
