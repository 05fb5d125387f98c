"""What the build needs beyond the code: the lock, build steps, the tests, and the tag
patterns the project already uses. Pure over a ``Tree`` (tags are passed in).

- Lock: ``uv.lock`` at the service root or above it (a uv workspace), ``poetry.lock``,
  ``requirements.lock``, ``requirements.txt``, else the most production-like file of a
  ``requirements/`` folder (``prod``, ``production``, ``base``, ``main``, ``common``).
- Build steps: Django's ``collectstatic`` when the settings set ``STATIC_ROOT``;
  ``compress`` when django-compressor is used by a template; ``pybabel compile`` for
  each ``translations`` folder holding ``.po`` files when Flask-Babel or Babel is a
  dependency.
- Tests: the ``testpaths`` of the pytest configuration, else ``tests/`` or ``test/``.
- Tags: ``v1.2.0`` -> ``v*``, ``1.2.0`` -> ``[0-9]*``, ``release-7`` -> ``release-*``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from stageline.config.detect.tree import (
    Requirements,
    Tree,
    join,
    parent,
    requirement_files,
    strings,
    table,
    uncommented,
)

DEFAULT_LOCKS = ("uv.lock", "poetry.lock", "requirements.lock", "requirements.txt")
_PRODUCTION_WORDS = ("prod", "production", "base", "main", "common", "requirements")


@dataclass(frozen=True)
class Lock:
    #: the lock file, relative to the service root ("../uv.lock" for a workspace root)
    path: str
    #: whether the pipeline file must name it (the build would not find it by default)
    named: bool


def find_lock(tree: Tree, root: str) -> Lock | None:
    for name in DEFAULT_LOCKS:
        if tree.has(join(root, name)):
            return Lock(name, False)
    at, up = root, ""
    while at:
        at, up = parent(at), up + "../"
        if tree.has(join(at, "uv.lock")):
            return Lock(up + "uv.lock", False)
    files = [p for p in requirement_files(tree, root) if "/requirements/" in f"/{p}"]
    for word in _PRODUCTION_WORDS:
        for path in files:
            if word in path.rsplit("/", 1)[-1].lower():
                return Lock(path[len(root) + 1 :] if root else path, True)
    return None


def _settings_text(tree: Tree, settings_file: str) -> str:
    if not settings_file:
        return ""
    folder = parent(settings_file)
    if settings_file.endswith("__init__.py"):  # a settings package: read all of it
        return "\n".join(tree.text(p) for p in tree.python_files(folder))
    return tree.text(settings_file)


def build_steps(tree: Tree, root: str, deps: Requirements, settings_file: str = "") -> list[str]:
    """The build steps the project's own configuration implies, in order."""
    steps: list[str] = []
    settings = uncommented(_settings_text(tree, settings_file))
    if settings_file and re.search(r"^\s*STATIC_ROOT\s*=", settings, re.MULTILINE):
        steps.append("python manage.py collectstatic --noinput")
        compressor = deps.has("django-compressor") or "compressor" in settings
        templates = [
            p for p in tree.files if p.startswith(join(root, "")) and p.endswith((".html", ".txt"))
        ]
        if compressor and any("{% compress" in tree.text(p) for p in templates):
            steps.append("python manage.py compress --force")
    if deps.has("flask-babel", "babel", "flask-babelex"):
        for folder in translations(tree, root):
            steps.append(f"pybabel compile -d {folder}")
    return steps


def translations(tree: Tree, root: str) -> list[str]:
    """Folders named ``translations`` under ``root`` holding ``LC_MESSAGES/*.po`` files."""
    found = set()
    for path in tree.files:
        if path.endswith(".po") and "/LC_MESSAGES/" in path and "/translations/" in f"/{path}":
            folder = path[: path.index("translations/") + len("translations")]
            if not root or folder.startswith(root + "/"):
                found.add(folder[len(root) + 1 :] if root else folder)
    return sorted(found)


@dataclass(frozen=True)
class Suite:
    paths: tuple[str, ...]
    #: how the test dependencies are declared: ("extra", "test"), ("group", "dev"),
    #: ("requirements", "requirements-dev.txt"), or None
    source: tuple[str, str] | None
    uses_pytest: bool


def find_tests(tree: Tree, root: str, deps: Requirements) -> Suite | None:
    project = tree.toml(join(root, "pyproject.toml"))
    pytest_ini = table(project, "tool", "pytest", "ini_options")
    paths = [
        str(p) for p in strings(pytest_ini, "testpaths") if tree.folders() & {join(root, str(p))}
    ]
    if not paths:
        paths = [name for name in ("tests", "test") if join(root, name) in tree.folders()]
    if not paths:
        return None
    return Suite(
        tuple(paths), _test_source(tree, root, project), deps.has_any("pytest", "pytest-django")
    )


def _test_source(tree: Tree, root: str, project: dict[str, object]) -> tuple[str, str] | None:
    extras = table(project, "project", "optional-dependencies")
    groups = table(project, "dependency-groups")
    for kind, declared in (("extra", extras), ("group", groups)):
        for name in ("test", "tests", "testing", "dev"):
            if isinstance(declared.get(name), list):
                return kind, name
    for path in requirement_files(tree, root):
        name = path.rsplit("/", 1)[-1]
        if "test" in name or "dev" in name:
            return "requirements", path[len(root) + 1 :] if root else path
    return None


def accept_patterns(tags: list[str]) -> list[str]:
    """Glob patterns covering the release tags in ``tags`` (most used first, at most 3)."""
    counts: Counter[str] = Counter()
    for tag in tags:
        match = re.match(r"^([^\d]*)\d", tag)
        if match is None:
            continue
        prefix = match.group(1)
        counts["[0-9]*" if not prefix else f"{prefix}*"] += 1
    return [pattern for pattern, _ in counts.most_common(3)]
