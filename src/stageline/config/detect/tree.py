"""A project's files as detection reads them: text and syntax trees, never imported or run.

``Tree.at(root)`` lists the files once (skipping virtualenvs, caches, VCS folders and
the like); every detection function takes a ``Tree`` and returns plain data, so each is
tested on a small folder made in a tmp dir. ``requirements(tree, folder)`` reads the
distributions a service folder declares (``pyproject.toml`` dependencies, optional and
group ones, ``requirements*.txt``), with their pinned version when there is one.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: folders never read: environments, caches, build output, VCS and stageline's own
SKIPPED = frozenset({
    ".git", ".hg", ".venv", "venv", ".env", "env", "node_modules", "__pycache__", ".tox",
    ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist", ".stageline",
    "site-packages", ".eggs", "htmlcov", "staticfiles",
})  # fmt: skip
#: files bigger than this are not read (generated code, data)
MAX_BYTES = 1_000_000
#: a tree is listed up to this many files (a huge repository is read in part)
MAX_FILES = 50_000
#: folders whose code is not the service (tests, docs, examples of its own)
NOT_SERVICE = frozenset({"tests", "test", "docs", "doc", "examples", "scripts", "bench"})


@dataclass
class Tree:
    """The readable files under ``root`` (posix paths relative to it), read lazily."""

    root: Path
    files: tuple[str, ...]
    _texts: dict[str, str] = field(default_factory=dict, repr=False)
    _asts: dict[str, ast.Module | None] = field(default_factory=dict, repr=False)

    @classmethod
    def at(cls, root: Path) -> Tree:
        found: list[str] = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info"))
            base = Path(folder).relative_to(root)
            found += [(base / name).as_posix() for name in names]
            if len(found) >= MAX_FILES:
                break
        return cls(root, tuple(sorted(found)))

    def has(self, path: str) -> bool:
        return path in self.files

    def folders(self) -> set[str]:
        """Every folder holding a listed file ("" is the root)."""
        out = {""}
        for path in self.files:
            parts = path.split("/")[:-1]
            out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        return out

    def text(self, path: str) -> str:
        if path not in self._texts:
            file = self.root / path
            try:
                small = file.stat().st_size <= MAX_BYTES
                self._texts[path] = (
                    file.read_text(encoding="utf-8", errors="replace") if small else ""
                )
            except OSError:
                self._texts[path] = ""
        return self._texts[path]

    def python(self, path: str) -> ast.Module | None:
        """The syntax tree of a Python file (None when it does not parse)."""
        if path not in self._asts:
            try:
                self._asts[path] = ast.parse(self.text(path), filename=path)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._asts[path] = None
        return self._asts[path]

    def python_files(self, under: str = "") -> Iterator[str]:
        prefix = f"{under}/" if under else ""
        return (p for p in self.files if p.endswith(".py") and p.startswith(prefix))

    def toml(self, path: str) -> dict[str, Any]:
        with contextlib.suppress(tomllib.TOMLDecodeError):
            return tomllib.loads(self.text(path)) if self.has(path) else {}
        return {}


def table(data: object, *keys: str) -> dict[str, Any]:
    """``data[k1][k2]...`` of parsed TOML when every step is a table, else ``{}`` (a
    malformed file is read as declaring nothing)."""
    for key in keys:
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}


def strings(data: dict[str, Any], key: str) -> list[str]:
    """The strings of the list ``data[key]`` (nothing when it is not a list)."""
    found = data.get(key, [])
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []


def is_service_code(path: str) -> bool:
    """Whether ``path`` may hold the service's own code (not tests, docs, migrations)."""
    parts = path.split("/")[:-1]
    name = path.rsplit("/", 1)[-1]
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return False
    return not any(p in NOT_SERVICE or p == "migrations" or p.startswith(".") for p in parts)


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def parse_requirement(line: str) -> tuple[str, str, str] | None:
    """(normalized name, extras, specifier) of one requirement line; None for options."""
    line = line.split("#", 1)[0].split(";", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = _REQUIREMENT.match(line)
    if match is None:
        return None
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, (match.group(2) or "").strip("[]"), match.group(3).strip()


@dataclass(frozen=True)
class Requirements:
    """What a service folder depends on: name -> specifier ("==1.2" or "" unpinned)."""

    runtime: dict[str, str]
    #: extras asked for: name -> extras ("fastapi" -> "standard")
    extras: dict[str, str]
    #: test or development dependencies (optional, groups, requirements-dev files)
    dev: dict[str, str]

    def has(self, *names: str) -> bool:
        return any(name in self.runtime for name in names)

    def has_any(self, *names: str) -> bool:
        return any(name in self.runtime or name in self.dev for name in names)

    def pinned(self, name: str) -> tuple[int, ...] | None:
        """The version ``name`` is pinned to (``==``), as numbers; None when not pinned."""
        spec = self.runtime.get(name, "")
        match = re.match(r"^==\s*(\d+(?:\.\d+)*)", spec)
        return tuple(int(n) for n in match.group(1).split(".")) if match else None


_DEV_WORDS = ("dev", "test", "lint", "doc", "ci", "type")


def _add(into: dict[str, str], extras: dict[str, str], lines: list[str]) -> None:
    for line in lines:
        parsed = parse_requirement(line)
        if parsed is not None:
            name, extra, spec = parsed
            if spec or name not in into:  # a pin (requirements.txt) beats a bare name
                into[name] = spec
            if extra:
                extras[name] = extra


def requirements(tree: Tree, folder: str) -> Requirements:
    """The dependencies declared in ``folder`` (and, for a uv workspace member, nothing of
    its siblings): ``pyproject.toml`` then ``requirements*.txt`` files of the folder."""
    runtime: dict[str, str] = {}
    extras: dict[str, str] = {}
    dev: dict[str, str] = {}
    project = tree.toml(join(folder, "pyproject.toml"))
    body = table(project, "project")
    _add(runtime, extras, strings(body, "dependencies"))
    for section in (table(body, "optional-dependencies"), table(project, "dependency-groups")):
        for name in section:
            _add(dev, extras, strings(section, name))
    poetry = table(project, "tool", "poetry", "dependencies")
    _add(runtime, extras, [name for name in poetry if name != "python"])
    for path in requirement_files(tree, folder):
        lines = tree.text(path).splitlines()
        words = path.rsplit("/", 1)[-1].lower()
        _add(dev if any(w in words for w in _DEV_WORDS) else runtime, extras, lines)
    return Requirements(runtime, extras, dev)


def requirement_files(tree: Tree, folder: str) -> list[str]:
    """``requirements*.txt`` in ``folder`` and ``*.txt`` in its ``requirements/`` folder."""
    found = []
    for path in tree.files:
        where, name = parent(path), path.rsplit("/", 1)[-1]
        if (where == folder and name.startswith("requirements") and name.endswith(".txt")) or (
            where == join(folder, "requirements") and name.endswith(".txt")
        ):
            found.append(path)
    return found


def uncommented(text: str) -> str:
    """``text`` without its comment lines (a commented-out setting is no setting)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
