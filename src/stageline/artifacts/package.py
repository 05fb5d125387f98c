"""Tell a package from an application tree, and build a package's own wheel."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from packaging.utils import parse_wheel_filename

from stageline.artifacts.runner import pip, run
from stageline.errors import BuildError

Kind = Literal["package", "app"]


def _pyproject(root: Path) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BuildError(
            f"pyproject.toml of the exported tree is not valid TOML: {error}"
        ) from error


def service_kind(root: Path) -> Kind:
    """``package`` when the tree builds a wheel, else ``app`` (shipped as a tree).

    A package has ``setup.py``, or a ``[project]`` table that builds: a
    ``[build-system]`` (unless ``tool.uv.package = false``) or ``tool.uv.package = true``.
    A ``[project]`` with no build system is an application in uv's sense (``uv init
    --app``): it declares dependencies but is not installed itself.
    """
    if (root / "setup.py").is_file():
        return "package"
    data = _pyproject(root)
    if "project" not in data:
        return "app"
    uv_package = data.get("tool", {}).get("uv", {}).get("package")
    if uv_package is not None:
        return "package" if uv_package else "app"
    return "package" if "build-system" in data else "app"


def project_field(root: Path, key: str) -> str | None:
    """A text field of ``[project]`` in the tree's ``pyproject.toml`` (``name``,
    ``requires-python``), None when it has none."""
    value = _pyproject(root).get("project", {}).get(key)
    return str(value) if value is not None else None


def declared_dependencies(root: Path) -> list[str]:
    """``[project].dependencies`` of the tree (an app's fresh resolution uses them)."""
    deps = _pyproject(root).get("project", {}).get("dependencies", [])
    return [str(dep) for dep in deps]


def build_wheel(
    python: str, root: Path, out: Path, env: Mapping[str, str], *, what: str = "the service wheel"
) -> Path:
    """Build the wheel of the project in ``root`` (no dependencies) into ``out``, an empty
    folder of its own; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    run(
        [*pip(python), "wheel", "--no-deps", "--wheel-dir", str(out), str(root)],
        what=f"building {what}",
        env=env,
        hint="check that `pip wheel .` works on a clean checkout of this ref",
        writes=out,
    )
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel building {what}, found {[w.name for w in wheels]}")
    return wheels[0]


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version, _build, _tags = parse_wheel_filename(wheel.name)
    return str(name), str(version)
