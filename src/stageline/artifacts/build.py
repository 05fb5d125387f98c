"""Build an artifact once from a git ref: export, wheels, offline check, steps, manifest."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stageline.artifacts import deps, layout, package, section, source, testlayer, toolchain
from stageline.artifacts.install import install_wheelhouse, venv_python
from stageline.artifacts.manifest import (
    MANIFEST_NAME,
    Manifest,
    PythonInfo,
    ServiceInfo,
    SourceInfo,
)
from stageline.artifacts.runner import build_env, probe_python, run
from stageline.artifacts.store import ArtifactStore
from stageline.artifacts.tree import hash_tree, tree_size
from stageline.artifacts.uvlock import LocalSource, build_local
from stageline.config.model import Service
from stageline.errors import ArtifactTampered, UsageError
from stageline.host.disk import reported
from stageline.values import label

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    digest: str
    manifest: Manifest
    path: Path
    size_bytes: int
    reused: bool = False


@dataclass(frozen=True)
class _Job:
    """One build in progress: where things are and what we know so far."""

    source: source.SourceRef
    chosen: section.Section
    python: str
    python_info: PythonInfo
    #: the interpreter's full version (``3.12.1``), judged against ``requires-python``
    python_version: str
    export: Path
    work: Path
    artifact: Path
    say: Progress
    #: wheelhouses of stored artifacts, newest first (pins are taken from them first)
    stored_wheels: tuple[Path, ...] = ()

    @property
    def wheels(self) -> Path:
        return self.artifact / "wheels"

    @property
    def service(self) -> Service:
        return self.chosen.service

    @property
    def folder(self) -> Path:
        """The service's folder in the exported tree (``[service] root``)."""
        root = self.service.root
        return self.export / root if root else self.export

    @property
    def where(self) -> str:
        return self.source.tag or self.source.ref


def build(
    repo: Path,
    ref: str,
    store: ArtifactStore,
    *,
    progress: Progress | None = None,
    python: str = sys.executable,
    operator: Callable[[], Service] | None = None,
    pipeline_folder: str = "",
    commit: bool = False,
) -> BuildResult:
    """Build ``ref`` of ``repo`` into ``store`` (or reuse the artifact it built before).

    The ``[service]`` section is the commit's own (its pipeline file in
    ``pipeline_folder``, from the repository's top), else ``operator()``'s (the
    operator's pipeline file; see ``section.py``). ``python`` builds unless the section
    names one (``[service] python``, see ``toolchain.py``). ``commit``: a build of a
    branch head or commit for review environments (the manifest records the branch and
    no tag: ``source.resolve_commit``). Pinned dependency wheels are taken from the
    stored artifacts first (``deps.fill_wheelhouse``)."""
    say = progress or (lambda _message: None)
    say(f"resolving {ref}")
    src = source.resolve_commit(Path(repo), ref) if commit else source.resolve(Path(repo), ref)
    own = section.in_commit(Path(repo), src, pipeline_folder)
    chosen = section.choose(own, operator, src.tag or ref, pipeline_folder)
    if chosen.origin == "pipeline file":
        say(f"{src.tag or ref} has no [service] of its own: taking the pipeline file's")
    python = toolchain.find_python(chosen.service.python, python)
    info, full_version = probe_python(python)
    key = reuse_key(src, info, chosen)
    reused = _reuse(store, key)
    if reused is not None:
        say(f"reusing {label(reused.digest)} (already built from {src.short})")
        return reused
    with reported(f"building {ref}", store.root):
        staging = store.staging_dir()
        try:
            job = _Job(
                src, chosen, python, info, full_version, staging / "export",
                staging / "work", staging / "artifact", say, _stored_wheels(store),
            )  # fmt: skip
            manifest = _build_into(Path(repo), job)
            say(f"storing {label(manifest.digest)}")
            path = store.add(job.artifact, manifest.digest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        store.remember_ref(key, manifest.digest)
    return BuildResult(manifest.digest, manifest, path, tree_size(path))


def reuse_key(src: source.SourceRef, info: PythonInfo, chosen: section.Section) -> str:
    """The refs/ index key: everything besides the commit's content that shapes a build
    (the ref, the interpreter, and the ``[service]`` section, which may come from the
    pipeline file: an edit there is taken by the next build)."""
    kind = [f"commit build of {src.branch}"] if src.branch else []
    text = "\n".join(
        [src.ref, info.implementation, info.version, info.platform, chosen.digest, *kind]
    )
    return f"{src.commit}.{hashlib.sha256(text.encode()).hexdigest()[:16]}"


#: how many stored artifacts' wheelhouses a build looks in before the index
STORED_WHEELHOUSES = 5


def _stored_wheels(store: ArtifactStore) -> tuple[Path, ...]:
    """The wheelhouses (release and test layer) of the newest stored artifacts (by commit
    time), newest first."""
    newest = list(reversed(store.list()))[:STORED_WHEELHOUSES]
    folders = [a.path / inner for a in newest for inner in ("wheels", "tests/wheels")]
    return tuple(folder for folder in folders if folder.is_dir())


def _reuse(store: ArtifactStore, key: str) -> BuildResult | None:
    digest = store.lookup_ref(key)
    if digest is None or not store.has(digest):
        return None
    try:
        store.verify(digest)
    except ArtifactTampered:
        return None  # rebuild; store.add replaces the damaged copy
    digest, manifest = store.load(digest)
    path = store.path_for(digest)
    return BuildResult(digest, manifest, path, tree_size(path), reused=True)


def _build_into(repo: Path, job: _Job) -> Manifest:
    job.say(f"exporting {job.source.short}")
    source.export(repo, job.source.commit, job.export)
    _check_service(job)
    service, folder = job.service, job.folder
    kind = package.service_kind(folder)
    env = build_env(job.source.commit_epoch)
    job.wheels.mkdir(parents=True)
    wheel = _service_wheel(job, env) if kind == "package" else None
    pins, local = _dependencies(job, wheel, env)
    _verify_and_run_steps(job, wheel)
    caps = _counted_caps(service, job.artifact)
    if kind == "app":
        layout.copy_tree(folder, job.artifact / "app", caps, top=folder)
    if service.bundle:
        job.say("copying the bundle")
        layout.copy_bundle(folder, service.bundle, job.artifact / "bundle", caps)
    if service.tests:
        job.say(f"collecting the test layer ([service.tests] {service.tests.source()})")
        testlayer.collect(folder, service.tests, job.artifact, python=job.python, env=env,
                          work=job.work, caps=caps, release=pins,
                          stored=job.stored_wheels)  # fmt: skip
    manifest = _manifest(job, wheel, pins, local)
    (job.artifact / MANIFEST_NAME).write_bytes(manifest.canonical_json())
    return manifest


def _check_service(job: _Job) -> None:
    """Before anything is built: UsageError when ``[service] root`` names no folder of
    the commit, BuildError when the service's ``requires-python`` rejects the Python."""
    if job.service.root and not job.folder.is_dir():
        raise UsageError(
            f"[service] root = {job.service.root!r}: {job.where} has no such folder",
            hint="root is the service's folder from the repository's top, e.g. root = \"backend\"",
        )
    toolchain.check(
        package.project_field(job.folder, "requires-python"), job.python_version, job.python,
        chosen=job.service.python is not None, where=job.where,
    )  # fmt: skip


def _counted_caps(service: Service, artifact: Path) -> layout.Caps:
    """The service's caps, with the wheelhouse already in the artifact counted (each wheel
    against the per-file cap too)."""
    caps = layout.Caps.megabytes(service.max_file_mb, service.max_artifact_mb)
    for wheel in sorted((artifact / "wheels").iterdir()):
        caps.add(f"wheels/{wheel.name}", wheel.lstat().st_size)
    return caps


def _service_wheel(job: _Job, env: dict[str, str]) -> Path:
    job.say("building the service wheel")
    built = package.build_wheel(job.python, job.folder, job.work / "dist", env)
    return Path(shutil.copyfile(built, job.wheels / built.name))


def _dependencies(
    job: _Job, wheel: Path | None, env: dict[str, str]
) -> tuple[deps.PinSource, dict[str, LocalSource]]:
    """Fill the wheelhouse: the lock's pins downloaded, the local projects the service
    needs (uv workspace members) built; return where the pins came from, and the local
    projects built (normalized name -> source)."""
    pins = deps.pin_source(job.export, job.service, job.work, job.folder)
    job.say(f"collecting dependency wheels ({pins.pinned_from or 'no lock: fresh resolution'})")
    unpinned = [str(wheel)] if wheel else package.declared_dependencies(job.folder)
    deps.fill_wheelhouse(
        job.python, pins, job.wheels, env, unpinned=unpinned, stored=job.stored_wheels
    )
    if pins.uv is None or not pins.local:
        return pins, {}
    shown = ", ".join(path.relative_to(job.export.resolve()).as_posix() for path in pins.local)
    job.say(f"building the wheels of the local projects the service needs: {shown}")
    local = build_local(job.python, pins.uv, pins.local, job.wheels, env, job.work / "local")
    return pins, local


def _verify_and_run_steps(job: _Job, wheel: Path | None) -> None:
    """Install the wheelhouse offline into a scratch venv, then run the build steps in it."""
    job.say("checking the wheelhouse installs offline")
    venv = job.work / "venv"
    if wheel is not None:
        requirements = [str(wheel)]
    else:
        requirements = [f"{p.name}=={p.version}" for p in deps.wheelhouse_pins(job.wheels)]
    install_wheelhouse(job.wheels, requirements, venv, python=job.python)
    env = build_env(job.source.commit_epoch, extra_path=venv_python(venv).parent)
    for step in job.service.build:
        job.say(f"running build step: {step}")
        run(step, what=f"build step {step!r}", cwd=job.folder, env=env)


def _manifest(
    job: _Job,
    wheel: Path | None,
    source_of_pins: deps.PinSource,
    local: dict[str, LocalSource],
) -> Manifest:
    if wheel is not None:
        version = package.wheel_name_version(wheel)[1]
    elif job.source.tag:
        version = job.source.tag.removeprefix("v")
    else:
        version = f"0+g{job.source.commit[:7]}"
    info = ServiceInfo(
        **job.chosen.data, version=version, kind="package" if wheel else "app",
        wheel=wheel.name if wheel else None,
    )  # fmt: skip
    src = job.source
    pins = deps.wheelhouse_pins(job.wheels, skip=wheel.name if wheel else None, local=local)
    resolved = deps.unpinned(pins, source_of_pins)
    manifest = Manifest(
        service=info,
        source=SourceInfo(
            ref=src.ref,
            tag=src.tag,
            commit=src.commit,
            commit_time=src.commit_time,
            branch=src.branch,
        ),
        python=job.python_info,
        pins=pins,
        pinned_from=source_of_pins.pinned_from,
        files=hash_tree(job.artifact),
        service_from=job.chosen.origin,
        resolved_at_build=resolved,
    )
    if resolved:  # the full note is the caller's to show (deps.resolution_note)
        lock = source_of_pins.pinned_from or "a lock"
        job.say(f"resolved at build time, not pinned by {lock}: {', '.join(resolved)}")
    return manifest
