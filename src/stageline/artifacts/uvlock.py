"""A ``uv.lock``'s own projects: export a service's pins, and build the local projects it needs.

A uv workspace locks every member in one ``uv.lock`` at its top. ``uv export --package
NAME`` lists what member NAME needs: pinned packages from an index, and the workspace's
other members it depends on, transitively, as local paths (``-e ./libs/common``, or
``./libs/common`` for a non-editable source); a ``{ path = ... }`` dependency reads the
same. No index has those, so :meth:`UvLock.export` leaves them out of the requirements
pip downloads and returns their folders, and :func:`build_local` makes a wheel of each
(no dependencies: the export pinned them) into the wheelhouse beside the downloaded
ones. The release then installs offline, and the manifest's pins name each local
project with its source (:meth:`UvLock.source_of`: ``"workspace member"``, or ``"local
path"`` for a path dependency that is not one of the lock's members).

A local project must be inside the commit (a path out of it is refused: it would build
from whatever the build host has there).
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

from stageline.artifacts.package import build_wheel, project_field, wheel_name_version
from stageline.artifacts.runner import run, uv_bin
from stageline.errors import BuildError

LocalSource = Literal["workspace member", "local path"]
#: how a requirement line of a local project starts in uv's export
_LOCAL_PREFIXES = (".", "/")


@dataclass(frozen=True)
class Exported:
    """A selection of the lock, exported: what pip downloads, and what the build builds."""

    requirements: Path  # pinned index packages only
    local: tuple[Path, ...]  # the local projects' folders in the export, in uv's order


@dataclass(frozen=True)
class UvLock:
    """A ``uv.lock`` in an exported tree (``top``), and which of its projects the service is
    (``package``: a workspace member's name, None when the lock is in the service's folder)."""

    lock: Path
    top: Path
    package: str | None
    #: the lock's workspace members (normalized names)
    members: frozenset[str]

    def export(self, out: Path, select: Sequence[str], *, hashes: bool, what: str) -> Exported:
        """Export the service's ``select`` (``--no-default-groups`` for the release's own
        dependencies, ``--only-group dev``, ...) to ``out``, without the service itself.
        BuildError when the lock is stale or a local project lies outside the commit."""
        raw = out.with_suffix(".uv.txt")
        package = ["--package", self.package] if self.package else []
        run(
            [uv_bin(), "export", "--quiet", "--frozen", *package, "--no-emit-project",
             *select, *([] if hashes else ["--no-hashes"]),
             "--format", "requirements-txt", "--output-file", str(raw)],
            what=f"{what} from {self.name}",
            cwd=self.lock.parent,
            hint="is uv.lock up to date with pyproject.toml? run `uv lock` and commit it",
        )  # fmt: skip
        kept, paths = split_local(raw.read_text(encoding="utf-8"))
        out.write_text(kept, encoding="utf-8")
        return Exported(out, tuple(self._inside(path) for path in paths))

    @property
    def name(self) -> str:
        """The lock's path from the repository's top (``uv.lock``)."""
        return self.lock.relative_to(self.top).as_posix()

    def source_of(self, name: str) -> LocalSource:
        """How the manifest names a local project ``name`` the service needs."""
        return "workspace member" if canonicalize_name(name) in self.members else "local path"

    def _inside(self, written: str) -> Path:
        folder = (self.lock.parent / written).resolve()
        if not folder.is_relative_to(self.top.resolve()) or not folder.is_dir():
            raise BuildError(
                f"{self.name} has the service depend on the local project {written!r}, "
                "which is not a folder of the commit",
                hint="make it a workspace member inside the repository, or depend on a "
                "published release of it",
            )
        return folder


def open_lock(lock: Path, folder: Path, top: Path) -> UvLock:
    """The ``uv.lock`` at ``lock`` for the service in ``folder`` (both in the export whose
    top is ``top``). A lock above the service's folder is a workspace's: the service is
    the member named by its ``pyproject.toml`` (BuildError when it names none)."""
    name = lock.relative_to(top).as_posix()
    package = None
    if lock.parent != folder:
        package = project_field(folder, "name")
        if package is None:
            raise BuildError(
                f"{name} is above the service's folder, and the service has no [project] "
                "name to export its pins by",
                hint="give the service's pyproject.toml a [project] name (a uv workspace member)",
            )
    try:
        data = tomllib.loads(lock.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise BuildError(f"cannot read {name}: {error}") from error
    listed = data.get("manifest", {}).get("members", [])
    members = frozenset(str(canonicalize_name(str(member))) for member in listed)
    return UvLock(lock, top, package, members)


def split_local(text: str) -> tuple[str, list[str]]:
    """A requirements file uv exported, without its local projects' lines, and their paths
    as written (``./libs/common``), in order."""
    kept: list[str] = []
    local: list[str] = []
    for line in text.splitlines():
        spec = "" if line.startswith((" ", "#")) else line.removeprefix("-e ").strip()
        if spec.startswith(_LOCAL_PREFIXES):
            local.append(spec.split(";", 1)[0].strip())
        else:
            kept.append(line)
    return "".join(f"{line}\n" for line in kept), local


def build_local(
    python: str,
    lock: UvLock,
    folders: Sequence[Path],
    wheelhouse: Path,
    env: Mapping[str, str],
    scratch: Path,
) -> dict[str, LocalSource]:
    """Build a wheel of each local project in ``folders`` into ``wheelhouse``; return each
    one's normalized name and source, for the manifest's pins."""
    built: dict[str, LocalSource] = {}
    for index, folder in enumerate(folders):
        shown = folder.relative_to(lock.top.resolve()).as_posix()
        wheel = build_wheel(python, folder, scratch / str(index), env, what=f"the wheel of {shown}")
        shutil.copyfile(wheel, wheelhouse / wheel.name)
        name = str(canonicalize_name(wheel_name_version(wheel)[0]))
        built[name] = lock.source_of(name)
    return built
