"""Build an artifact once from a git ref: export, wheels, offline check, steps, manifest."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stageline.artifacts import deps, layout, package, source
from stageline.artifacts.install import install_wheelhouse, venv_python
from stageline.artifacts.manifest import (
    MANIFEST_NAME,
    Manifest,
    PythonInfo,
    ServiceInfo,
    SourceInfo,
)
from stageline.artifacts.runner import build_env, python_info, run
from stageline.artifacts.store import ArtifactStore
from stageline.artifacts.tree import hash_tree, tree_size
from stageline.config.loader import load_service
from stageline.config.model import Service
from stageline.errors import ArtifactTampered
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
    python: str
    python_info: PythonInfo
    export: Path
    work: Path
    artifact: Path
    say: Progress

    @property
    def wheels(self) -> Path:
        return self.artifact / "wheels"


def build(
    repo: Path,
    ref: str,
    store: ArtifactStore,
    *,
    progress: Progress | None = None,
    python: str = sys.executable,
) -> BuildResult:
    """Build ``ref`` of ``repo`` into ``store`` (or reuse the artifact it built before)."""
    say = progress or (lambda _message: None)
    say(f"resolving {ref}")
    src = source.resolve(Path(repo), ref)
    info = python_info(python)
    key = reuse_key(src, info)
    reused = _reuse(store, key)
    if reused is not None:
        say(f"reusing {label(reused.digest)} (already built from {src.short})")
        return reused
    with reported(f"building {ref}", store.root):
        staging = store.staging_dir()
        try:
            job = _Job(
                src, python, info, staging / "export", staging / "work", staging / "artifact", say
            )
            manifest = _build_into(Path(repo), job)
            say(f"storing {label(manifest.digest)}")
            path = store.add(job.artifact, manifest.digest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        store.remember_ref(key, manifest.digest)
    return BuildResult(manifest.digest, manifest, path, tree_size(path))


def reuse_key(src: source.SourceRef, info: PythonInfo) -> str:
    """The refs/ index key: everything besides the commit's content that shapes a build."""
    text = "\n".join([src.ref, info.implementation, info.version, info.platform])
    return f"{src.commit}.{hashlib.sha256(text.encode()).hexdigest()[:16]}"


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
    service = load_service(job.export)
    kind = package.service_kind(job.export)
    env = build_env(job.source.commit_epoch)
    job.wheels.mkdir(parents=True)
    wheel = _service_wheel(job, env) if kind == "package" else None
    pins = _dependencies(job, service, wheel, env)
    _verify_and_run_steps(job, service, wheel)
    caps = _counted_caps(service, job.artifact)
    if kind == "app":
        layout.copy_tree(job.export, job.artifact / "app", caps, top=job.export)
    if service.bundle:
        job.say("copying the bundle")
        layout.copy_bundle(job.export, service.bundle, job.artifact / "bundle", caps)
    manifest = _manifest(job, service, wheel, pins.pinned_from)
    (job.artifact / MANIFEST_NAME).write_bytes(manifest.canonical_json())
    return manifest


def _counted_caps(service: Service, artifact: Path) -> layout.Caps:
    """The service's caps, with the wheelhouse already in the artifact counted (each wheel
    against the per-file cap too)."""
    caps = layout.Caps.megabytes(service.max_file_mb, service.max_artifact_mb)
    for wheel in sorted((artifact / "wheels").iterdir()):
        caps.add(f"wheels/{wheel.name}", wheel.lstat().st_size)
    return caps


def _service_wheel(job: _Job, env: dict[str, str]) -> Path:
    job.say("building the service wheel")
    built = package.build_wheel(job.python, job.export, job.work / "dist", env)
    return Path(shutil.copyfile(built, job.wheels / built.name))


def _dependencies(
    job: _Job, service: Service, wheel: Path | None, env: dict[str, str]
) -> deps.PinSource:
    pins = deps.pin_source(job.export, service, job.work)
    job.say(f"collecting dependency wheels ({pins.pinned_from or 'no lock: fresh resolution'})")
    unpinned = [str(wheel)] if wheel else package.declared_dependencies(job.export)
    deps.fill_wheelhouse(job.python, pins, job.wheels, env, unpinned=unpinned)
    return pins


def _verify_and_run_steps(job: _Job, service: Service, wheel: Path | None) -> None:
    """Install the wheelhouse offline into a scratch venv, then run the build steps in it."""
    job.say("checking the wheelhouse installs offline")
    venv = job.work / "venv"
    if wheel is not None:
        requirements = [str(wheel)]
    else:
        requirements = [f"{p.name}=={p.version}" for p in deps.wheelhouse_pins(job.wheels)]
    install_wheelhouse(job.wheels, requirements, venv, python=job.python)
    env = build_env(job.source.commit_epoch, extra_path=venv_python(venv).parent)
    for step in service.build:
        job.say(f"running build step: {step}")
        run(step, what=f"build step {step!r}", cwd=job.export, env=env)


def _manifest(job: _Job, service: Service, wheel: Path | None, pinned_from: str | None) -> Manifest:
    if wheel is not None:
        version = package.wheel_name_version(wheel)[1]
    elif job.source.tag:
        version = job.source.tag.removeprefix("v")
    else:
        version = f"0+g{job.source.commit[:7]}"
    info = ServiceInfo(
        name=service.name, version=version, kind="package" if wheel else "app",
        start=service.start, health=service.health, release=service.release,
        bundle=service.bundle, build=service.build, wheel=wheel.name if wheel else None,
        processes=service.workers, persist=service.persist,
    )  # fmt: skip
    src = job.source
    return Manifest(
        service=info,
        source=SourceInfo(ref=src.ref, tag=src.tag, commit=src.commit, commit_time=src.commit_time),
        python=job.python_info,
        pins=deps.wheelhouse_pins(job.wheels, skip=wheel.name if wheel else None),
        pinned_from=pinned_from,
        files=hash_tree(job.artifact),
    )
