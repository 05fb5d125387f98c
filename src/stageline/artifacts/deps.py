"""Dependencies: find the service's lock, turn it into pins, fill the wheelhouse.

The lock is ``service.lock`` when set (a path from the service's folder, e.g.
``requirements/prod.txt`` or ``../uv.lock``), else the first of :data:`LOCK_FILES`
found in the service's folder (``[service] root``, the repository's top by default),
then in each folder above it up to the repository's top: exactly these four names,
no other ``requirements*.txt``. A ``uv.lock`` above the service's folder is a uv
workspace's: the service's own pins are exported from it (``uv export --package NAME``,
NAME from the service's ``pyproject.toml``; its dependency groups left out), and the
workspace members it depends on are built into wheels (``uvlock.py``). Without a lock
the declared dependencies are resolved afresh and the manifest says so (``pinned_from``
is None).

A lock that does not pin every package the resolution needs (direct pins only, or
``>=`` ranges) is not a full lock: :func:`unpinned` names what the build resolved on its
own, the manifest records it (``resolved_at_build``) and the build says so
(:func:`resolution_note`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from stageline.artifacts.manifest import Manifest, Pin
from stageline.artifacts.runner import pip, run
from stageline.artifacts.uvlock import LocalSource, UvLock, open_lock
from stageline.config.model import Service
from stageline.errors import BuildError

LOCK_FILES = ("uv.lock", "poetry.lock", "requirements.lock", "requirements.txt")
#: how many package names a note lists before "and N more"
_NAMES_SHOWN = 8


@dataclass(frozen=True)
class PinSource:
    """A requirements file pip can read, and the lock it was made from."""

    requirements: Path | None  # None: resolve the declared dependencies afresh
    pinned_from: str | None
    #: the ``uv.lock`` the pins were exported from (None: another kind of lock, or none)
    uv: UvLock | None = None
    #: the lock's own projects the service needs (workspace members, path dependencies):
    #: their folders in the export, built into wheels rather than downloaded
    local: tuple[Path, ...] = ()


def find_lock(top: Path, service: Service, folder: Path | None = None) -> str | None:
    """The lock file the pins come from (relative to ``top``, the repository's top), if
    any; ``folder`` is the service's (``top`` by default)."""
    folder = folder or top
    if service.lock:
        path = (folder / service.lock).resolve()
        if not path.is_file() or not path.is_relative_to(top.resolve()):
            raise BuildError(
                f"the lock file {service.lock!r} named by the service is not in the commit",
                hint="commit it, or fix `lock` in the service definition (a path from the "
                "service's folder)",
            )
        return path.relative_to(top.resolve()).as_posix()
    here = folder
    while True:
        found = next((here / name for name in LOCK_FILES if (here / name).is_file()), None)
        if found is not None:
            return found.relative_to(top).as_posix()
        if here == top or top not in here.parents:
            return None
        here = here.parent


def pin_source(root: Path, service: Service, work: Path, folder: Path | None = None) -> PinSource:
    """Turn the service's lock into a requirements file in ``work``."""
    folder = folder or root
    lock = find_lock(root, service, folder)
    if lock is None:
        return PinSource(requirements=None, pinned_from=None)
    path = root / lock
    work.mkdir(parents=True, exist_ok=True)
    if path.name == "uv.lock":
        uv = open_lock(path, folder, root)
        exported = uv.export(
            work / "pins.txt", ["--no-default-groups"], hashes=True, what="exporting pins"
        )
        return PinSource(exported.requirements, lock, uv, exported.local)
    if path.name == "poetry.lock":
        return PinSource(_export_poetry(path, work / "pins.txt"), lock)
    return PinSource(path, lock)


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
    stored: Sequence[Path] = (),
) -> None:
    """Download (or build from sdists) every dependency wheel into ``wheelhouse``.

    ``unpinned`` is what to resolve afresh when there is no lock: the service wheel's
    path for a package, the declared dependencies for an app. ``stored`` are wheelhouses
    of artifacts built before: with a lock, the pins are first taken from them alone
    (``--no-index``, no download and no sdist build), so a build one commit ahead of a
    built tag costs no network; only when they lack a pin does pip ask the index.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    base = [*pip(python), "wheel", "--wheel-dir", str(wheelhouse)]
    if source.requirements is not None:
        if not requires_anything(source.requirements):
            return  # e.g. a workspace member that needs only other members
        if stored and _from_stored(base, source.requirements, stored, env, wheelhouse):
            return
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


def _from_stored(
    base: list[str],
    requirements: Path,
    stored: Sequence[Path],
    env: Mapping[str, str],
    wheelhouse: Path,
) -> bool:
    """Fill ``wheelhouse`` from ``stored`` wheelhouses only; False when they lack a pin."""
    links = [arg for folder in stored for arg in ("--find-links", str(folder))]
    try:
        run(
            [*base, "--no-index", *links, "--requirement", str(requirements)],
            what="collecting dependency wheels from stored artifacts",
            env=env,
            writes=wheelhouse,
        )
    except BuildError:
        return False
    return True


def requires_anything(requirements: Path) -> bool:
    """Whether a requirements file has a line besides comments and blanks (pip refuses
    one that has none)."""
    lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def wheelhouse_pins(
    wheelhouse: Path, *, skip: str | None = None, local: Mapping[str, LocalSource] | None = None
) -> list[Pin]:
    """A pin per wheel in ``wheelhouse`` (normalized names, sorted), minus the ``skip`` file;
    the ones in ``local`` (built from the commit, ``uvlock.build_local``) carry their source."""
    pins = set()
    for wheel in wheelhouse.glob("*.whl"):
        if wheel.name == skip:
            continue
        name, version, _build, _tags = parse_wheel_filename(wheel.name)
        pins.add((str(canonicalize_name(name)), str(version)))
    source = (local or {}).get
    return [Pin(name=name, version=version, source=source(name)) for name, version in sorted(pins)]


def pinned_names(requirements: Path, *, seen: frozenset[Path] = frozenset()) -> set[str]:
    """The packages a requirements file pins to one version (``==``/``===``, no ``.*``),
    normalized, following its ``-r`` and ``-c`` includes (relative to the file)."""
    names: set[str] = set()
    text = requirements.read_text(encoding="utf-8", errors="replace")
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r", "-c", "--requirement", "--constraint")):
            included = (requirements.parent / line.split(maxsplit=1)[-1].split("=")[-1]).resolve()
            if included.is_file() and included not in seen:
                names |= pinned_names(included, seen=seen | {requirements.resolve()})
            continue
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line.split(" --", 1)[0].strip())
        except InvalidRequirement:
            continue
        if any(s.operator in ("==", "===") and not s.version.endswith(".*")
               for s in requirement.specifier):  # fmt: skip
            names.add(str(canonicalize_name(requirement.name)))
    return names


def unpinned(pins: list[Pin], source: PinSource) -> list[str]:
    """The names of ``pins`` (what the build resolved) the lock did not pin: every one
    without a lock. A local project built from the commit (a pin with a ``source``) is
    pinned by the commit itself."""
    pinned = pinned_names(source.requirements) if source.requirements is not None else set()
    return sorted(pin.name for pin in pins if pin.name not in pinned and pin.source is None)


def resolution_note(manifest: Manifest) -> str | None:
    """What the build output says when the lock was not a full one (None: it was)."""
    names = manifest.resolved_at_build
    if not names:
        return None
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f" and {len(names) - _NAMES_SHOWN} more"
    lock = manifest.pinned_from
    what = f"{lock} is not a full lock" if lock else "there is no lock file"
    if lock and Path(lock).name.startswith("requirements"):
        fix = f"`uv pip compile requirements.in -o {lock}` (direct pins in requirements.in)"
    else:
        fix = "`uv lock` (commit uv.lock)"
    return (
        f"{what}: {len(names)} of {len(manifest.pins)} packages were resolved at build time "
        f"({shown}), recorded in the manifest; a rebuild may pick other versions. Lock them: "
        f"{fix}"
    )
