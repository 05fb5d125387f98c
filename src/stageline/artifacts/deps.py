"""Dependencies: find the service's lock, turn it into pins, fill the wheelhouse.

The lock is looked for in this order: ``service.lock`` when set, ``uv.lock``,
``poetry.lock``, ``requirements.lock``, ``requirements.txt``. Without one the
declared dependencies are resolved afresh and the manifest says so (``pinned_from``
is None).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, parse_wheel_filename

from stageline.artifacts.manifest import Pin
from stageline.artifacts.runner import run, uv_bin
from stageline.config.model import Service
from stageline.errors import BuildError

LOCK_FILES = ("uv.lock", "poetry.lock", "requirements.lock", "requirements.txt")


@dataclass(frozen=True)
class PinSource:
    """A requirements file pip can read, and the lock it was made from."""

    requirements: Path | None  # None: resolve the declared dependencies afresh
    pinned_from: str | None


def find_lock(root: Path, service: Service) -> str | None:
    """The lock file (relative to ``root``) the pins come from, if any."""
    if service.lock:
        if not (root / service.lock).is_file():
            raise BuildError(
                f"the lock file {service.lock!r} named by the service is not in the commit",
                hint="commit it, or fix `lock` in the service definition",
            )
        return service.lock
    return next((name for name in LOCK_FILES if (root / name).is_file()), None)


def pin_source(root: Path, service: Service, work: Path) -> PinSource:
    """Turn the service's lock into a requirements file in ``work``."""
    lock = find_lock(root, service)
    if lock is None:
        return PinSource(requirements=None, pinned_from=None)
    path = root / lock
    work.mkdir(parents=True, exist_ok=True)
    if path.name == "uv.lock":
        return PinSource(_export_uv(path, work / "pins.txt"), lock)
    if path.name == "poetry.lock":
        return PinSource(_export_poetry(path, work / "pins.txt"), lock)
    return PinSource(path, lock)


def _export_uv(lock: Path, out: Path) -> Path:
    run(
        [uv_bin(), "export", "--quiet", "--frozen", "--no-emit-project",
         "--format", "requirements-txt", "--output-file", str(out)],
        what=f"exporting pins from {lock.name}",
        cwd=lock.parent,
        hint="is uv.lock up to date with pyproject.toml? run `uv lock` and commit it",
    )  # fmt: skip
    return out


def poetry_requirements(text: str) -> list[str]:
    """``name==version`` (with its marker) for each main-group package of a poetry.lock."""
    data: dict[str, Any] = tomllib.loads(text)
    lines = []
    for package in data.get("package", []):
        groups = package.get("groups")
        category = package.get("category", "main")
        if (groups is not None and "main" not in groups) or category != "main":
            continue
        line = f"{package['name']}=={package['version']}"
        markers = package.get("markers")
        if isinstance(markers, dict):
            markers = markers.get("main")
        if isinstance(markers, str) and markers:
            line += f" ; {markers}"
        lines.append(line)
    return sorted(lines)


def _export_poetry(lock: Path, out: Path) -> Path:
    try:
        lines = poetry_requirements(lock.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, KeyError) as error:
        raise BuildError(f"cannot read {lock.name}: {error}") from error
    out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return out


def fill_wheelhouse(
    python: str,
    source: PinSource,
    wheelhouse: Path,
    env: Mapping[str, str],
    *,
    unpinned: list[str],
) -> None:
    """Download (or build from sdists) every dependency wheel into ``wheelhouse``.

    ``unpinned`` is what to resolve afresh when there is no lock: the service wheel's
    path for a package, the declared dependencies for an app.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    base = [python, "-m", "pip", "wheel", "--wheel-dir", str(wheelhouse)]
    if source.requirements is not None:
        args = [*base, "--requirement", str(source.requirements)]
        what = f"collecting dependency wheels pinned by {source.pinned_from}"
    elif unpinned:
        args = [*base, *unpinned]
        what = "collecting dependency wheels (no lock: fresh resolution)"
    else:
        return
    run(
        args,
        what=what,
        env=env,
        hint="check that every pinned dependency exists",
        writes=wheelhouse,
    )


def wheelhouse_pins(wheelhouse: Path, *, skip: str | None = None) -> list[Pin]:
    """A pin per wheel in ``wheelhouse`` (normalized names, sorted), minus the ``skip`` file."""
    pins = set()
    for wheel in wheelhouse.glob("*.whl"):
        if wheel.name == skip:
            continue
        name, version, _build, _tags = parse_wheel_filename(wheel.name)
        pins.add((str(canonicalize_name(name)), str(version)))
    return [Pin(name=name, version=version) for name, version in sorted(pins)]
