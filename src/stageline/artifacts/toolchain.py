"""The build's Python: which interpreter builds a service, and whether the service takes it.

``[service] python`` is a version (``"3.12"``) or an interpreter's path. A version is
looked up on this host by uv, never downloaded (``UV_PYTHON_DOWNLOADS=never``, offline);
no such Python is a clear refusal. Without ``python`` the build uses stageline's own
interpreter. Either way the interpreter must satisfy the service's ``requires-python``
(``[project]`` of its ``pyproject.toml``), or the build is refused before anything is
built: a service is never built silently for a Python it does not support.
"""

from __future__ import annotations

import os
import subprocess

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from stageline.artifacts.runner import uv_bin
from stageline.errors import BuildError


def find_python(request: str | None, default: str) -> str:
    """The interpreter to build with: ``default`` when nothing is asked for, else the one
    uv finds on this host for ``request`` (a version or a path); BuildError without one."""
    if request is None:
        return default
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_OFFLINE="1", UV_NO_CONFIG="1")
    try:
        done = subprocess.run(
            [uv_bin(), "python", "find", request],
            env=env, capture_output=True, text=True, check=False, cwd="/",
        )  # fmt: skip
    except OSError as error:
        raise BuildError(f"looking for Python {request}: {error}") from error
    found = done.stdout.strip()
    if done.returncode != 0 or not found:
        raise BuildError(
            f"the service asks for Python {request} ([service] python), and this host has "
            "none (looked without downloading)",
            hint=f"install Python {request} on this host, or set [service] python to the "
            "path of an interpreter it has",
        )
    return found


def refusal(requires: str | None, version: str, *, chosen: bool) -> str | None:
    """Why an interpreter of ``version`` (``3.11.7``) may not build a service whose
    ``requires-python`` is ``requires`` (None: no such field, any will do); None when
    it may. ``chosen``: the interpreter was asked for by ``[service] python``."""
    if not requires:
        return None
    try:
        release = Version(".".join(map(str, Version(version).release)))  # as pip judges it
        accepted = SpecifierSet(requires).contains(release, prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return f"its requires-python {requires!r} is not a valid version specifier"
    if accepted:
        return None
    whose = "[service] python" if chosen else "stageline's own Python (no [service] python)"
    return f"it requires Python {requires}, and the build's Python is {version} ({whose})"


def check(requires: str | None, version: str, python: str, *, chosen: bool, where: str) -> None:
    """BuildError naming ``where`` (the tag) when :func:`refusal` says no."""
    reason = refusal(requires, version, chosen=chosen)
    if reason is None:
        return
    raise BuildError(
        f"refusing to build {where}: {reason} at {python}",
        hint='set [service] python to a version this host has (e.g. python = "3.12") or an '
        "interpreter path that satisfies requires-python",
    )
