"""The test layer of an artifact: the service's own tests and their dependency wheels.

``[service.tests]`` names where the test dependencies are declared (an extra of
``[project.optional-dependencies]``, a ``[dependency-groups]`` group, or a requirements
file) and which ``paths`` hold the tests. The build (:func:`collect`) adds, beside the
release's ``wheels/``::

    tests/layer.json   what the layer holds: its source, requirements, pins, paths
    tests/wheels/      every test dependency wheel the release's wheelhouse lacks
    tests/files/       the test paths, as in the repository

The manifest hashes these files like any other, so the artifact's digest covers the
layer; the release install never reads ``tests/`` (``install.py``). When the release was
pinned from a ``uv.lock`` (the service's own, or its workspace's above it) the group or
extra is exported from that lock (``pinned_from``; ``uv export --package NAME`` for a
workspace member), and any workspace member it needs that the release lacks is built
into the layer; otherwise the declared requirements are resolved with the release's own
pins as constraints, so a test run sees the versions the release runs.

The pytest gate installs release and layer together, offline, into a virtualenv of its
own (:func:`install_argv`), never into the release's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stageline.artifacts import deps, layout, uvlock
from stageline.artifacts.install import venv_python
from stageline.artifacts.runner import pip, run, uv_bin
from stageline.config.model import ServiceTests
from stageline.errors import BuildError

LAYER = "tests"
LAYER_FILE = "layer.json"


@dataclass(frozen=True)
class TestLayer:
    """A built artifact's test layer (read back by the pytest gate)."""

    __test__ = False  # not a pytest test class

    root: Path  # <artifact>/tests
    source: str  # "extra = 'test'"
    pinned_from: str | None
    paths: list[str]
    pins: list[str]  # name==version of every wheel in tests/wheels

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def files(self) -> Path:
        return self.root / "files"


def read(artifact: Path | None) -> TestLayer | None:
    """The test layer of the artifact at ``artifact`` (None: it has none)."""
    if artifact is None or not (artifact / LAYER / LAYER_FILE).is_file():
        return None
    data = json.loads((artifact / LAYER / LAYER_FILE).read_text(encoding="utf-8"))
    return TestLayer(
        artifact / LAYER, data["source"], data["pinned_from"], data["paths"], data["pins"]
    )


def collect(
    export: Path,
    tests: ServiceTests,
    artifact: Path,
    *,
    python: str,
    env: Mapping[str, str],
    work: Path,
    caps: layout.Caps,
    release: deps.PinSource | None = None,
    stored: Sequence[Path] = (),
) -> TestLayer:
    """Build the test layer of the artifact being made in ``artifact`` from ``export`` (the
    service's folder); ``release`` is where the release's pins came from. ``stored``
    wheelhouses (of artifacts built before) are tried first, with no index."""
    root = artifact / LAYER
    collected = work / "test-wheels"
    collected.mkdir(parents=True, exist_ok=True)
    uv = release.uv if release is not None and not tests.requirements else None
    if uv is not None:
        built = release.local if release is not None else ()
        requirements = _from_lock(uv, built, tests, python=python, env=env, work=work,
                                  into=collected)  # fmt: skip
        pinned_from: str | None = uv.name
    else:
        requirements, pinned_from = _requirements(export, tests, work)
    _download(python, requirements, artifact / "wheels", collected, env, work, tests, stored)
    present = {wheel.name for wheel in (artifact / "wheels").glob("*.whl")}
    (root / "wheels").mkdir(parents=True)
    for wheel in sorted(collected.glob("*.whl")):
        if wheel.name not in present:
            caps.add(f"{LAYER}/wheels/{wheel.name}", wheel.stat().st_size)
            shutil.copyfile(wheel, root / "wheels" / wheel.name)
    layout.copy_bundle(export, tests.paths, root / "files", caps)
    pins = [f"{p.name}=={p.version}" for p in deps.wheelhouse_pins(root / "wheels")]
    data = {"source": tests.source(), "pinned_from": pinned_from, "paths": tests.paths,
            "requirements": requirements if pinned_from is None else [], "pins": pins}  # fmt: skip
    (root / LAYER_FILE).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
    return TestLayer(root, tests.source(), pinned_from, tests.paths, pins)


def _download(
    python: str,
    requirements: list[str],
    release: Path,
    collected: Path,
    env: Mapping[str, str],
    work: Path,
    tests: ServiceTests,
    stored: Sequence[Path] = (),
) -> None:
    """Collect the wheels of ``requirements`` (pip arguments; none: nothing to do) into
    ``collected``, the release's wheelhouse (``release``) offered and its pins as
    constraints: from ``release`` and the ``stored`` wheelhouses alone when they hold
    every one (no index), else with the index."""
    if not requirements:
        return
    constraints = work / "release-pins.txt"
    pins = deps.wheelhouse_pins(release)
    constraints.write_text("".join(f"{p.name}=={p.version}\n" for p in pins), "utf-8")
    base = [*pip(python), "wheel", "--wheel-dir", str(collected), "--find-links", str(release),
            "--constraint", str(constraints)]  # fmt: skip
    if stored:
        links = [arg for folder in stored for arg in ("--find-links", str(folder))]
        with contextlib.suppress(BuildError):
            run([*base, "--no-index", *links, *requirements], env=env, writes=collected,
                what="collecting the test dependencies from stored artifacts")  # fmt: skip
            return
    run(
        [*base, *requirements],
        what=f"collecting the test dependencies ([service.tests] {tests.source()})",
        env=env, hint="check the test dependencies exist and agree with the release's pins",
        writes=collected,
    )  # fmt: skip


def _from_lock(
    uv: uvlock.UvLock,
    built: tuple[Path, ...],
    tests: ServiceTests,
    *,
    python: str,
    env: Mapping[str, str],
    work: Path,
    into: Path,
) -> list[str]:
    """Export the test dependencies from the release's ``uv.lock``; build into ``into`` the
    local projects they need that the release has not (``built``); return the pip
    arguments naming the rest (none when nothing is left to download)."""
    what = f"exporting the test dependencies ([service.tests] {tests.source()})"
    exported = uv.export(work / "test-pins.txt", _selection(tests), hashes=False, what=what)
    needed = [folder for folder in exported.local if folder not in built]
    uvlock.build_local(python, uv, needed, into, env, work / "test-local")
    if not deps.requires_anything(exported.requirements):
        return []
    return ["--requirement", str(exported.requirements)]


def _selection(tests: ServiceTests) -> list[str]:
    """What of the lock ``uv export`` takes for the layer: the group alone, or the extra."""
    if tests.group:
        return ["--only-group", tests.group]
    return ["--extra", str(tests.extra), "--no-default-groups"]


def _requirements(export: Path, tests: ServiceTests, work: Path) -> tuple[list[str], str | None]:
    """pip arguments naming the test dependencies, and the lock they came from (if any):
    a requirements file, else what pyproject.toml declares (without a uv.lock; see
    :func:`collect`)."""
    if tests.requirements:
        if not (export / tests.requirements).is_file():
            raise BuildError(
                f"[service.tests] requirements = {tests.requirements!r} is not in the commit",
                hint="commit the file, or fix the path (relative to the repository root)",
            )
        return ["--requirement", str(export / tests.requirements)], None
    project = _pyproject(export)
    if tests.extra:
        table = project.get("project", {}).get("optional-dependencies", {})
        extra = _declared(table, tests.extra, "project.optional-dependencies")
        return [str(item) for item in extra], None
    groups = project.get("dependency-groups", {})
    return _group(groups, str(tests.group), []), None


def _pyproject(export: Path) -> dict[str, Any]:
    path = export / "pyproject.toml"
    if not path.is_file():
        raise BuildError(
            "[service.tests] names an extra or a group, but the commit has no pyproject.toml",
            hint="name a requirements file instead: requirements = 'requirements-dev.txt'",
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise BuildError(f"cannot read pyproject.toml: {error}") from error


def _declared(table: Mapping[str, Any], name: str, where: str) -> list[Any]:
    """``table[name]`` (a list of requirements); BuildError naming what exists if absent."""
    if name not in table:
        listed = ", ".join(sorted(table)) or "none"
        raise BuildError(
            f"[service.tests] names {name!r}, which pyproject.toml's [{where}] does not "
            f"declare (it has: {listed})",
            hint="fix the name in [service.tests], or declare the test dependencies there",
        )
    return list(table[name])


def _group(groups: Mapping[str, Any], name: str, seen: list[str]) -> list[str]:
    """A PEP 735 dependency group, with ``{include-group = ...}`` entries expanded."""
    if name in seen:
        raise BuildError(f"dependency group {name!r} includes itself ({' -> '.join(seen)})")
    found: list[str] = []
    for entry in _declared(groups, name, "dependency-groups"):
        if isinstance(entry, Mapping) and "include-group" in entry:
            found += _group(groups, str(entry["include-group"]), [*seen, name])
        else:
            found.append(str(entry))
    return found


def install_argv(
    artifact: Path, layer: TestLayer, venv: Path, *, python: str, release: list[str]
) -> list[list[str]]:
    """The commands that make ``venv`` hold the release (``release``: its requirements,
    ``install.requirements_of``) and the test layer, offline, from the artifact alone
    (uv's own cache unused, as for a release: ``install.install_wheelhouse``)."""
    return [
        [uv_bin(), "venv", "--quiet", "--python", python, str(venv)],
        [uv_bin(), "pip", "install", "--quiet", "--python", str(venv_python(venv)),
         "--offline", "--no-index", "--no-cache", "--find-links", str(artifact / "wheels"),
         "--find-links", str(layer.wheels), *release, *layer.pins],
    ]  # fmt: skip
