"""Make a release's virtualenv from an artifact's wheelhouse, offline, with uv."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stageline.artifacts.manifest import MANIFEST_NAME, Manifest, parse_manifest
from stageline.artifacts.runner import run, uv_bin


def requirements_of(manifest: Manifest, wheelhouse: Path) -> list[str]:
    """What to install: the service's own wheel (package) or every pin (app tree)."""
    if manifest.service.wheel is not None:
        return [str(wheelhouse / manifest.service.wheel)]
    return [f"{pin.name}=={pin.version}" for pin in manifest.pins]


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(UV_OFFLINE="1", UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    return env


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_wheelhouse(
    wheelhouse: Path,
    requirements: list[str],
    venv_dir: Path,
    *,
    python: str,
    compile_bytecode: bool = False,
    own_files: bool = False,
) -> None:
    """Create ``venv_dir`` and install ``requirements`` from ``wheelhouse`` only.

    ``compile_bytecode`` writes ``.pyc`` files now, so the release command and the first
    start of the service do not each pay for compiling every module they import.
    ``own_files`` copies every file instead of hard-linking uv's cache: a release folder
    is sealed (made read-only, recorded) and must share no inode with anything else.

    The wheelhouse is the cache: uv's own (``~/.cache/uv``) is not used (``--no-cache``),
    since it keeps an unpacked copy of every wheel file it installs from, per path, and
    would grow by a whole wheelhouse with every artifact, never to be cleaned.
    """
    env = offline_env()
    hint = "the wheelhouse is incomplete: a dependency is missing from the lock"
    run(
        [uv_bin(), "venv", "--quiet", "--python", python, str(venv_dir)],
        what=f"creating a virtualenv with {python}",
        env=env,
        writes=venv_dir,
    )
    if not requirements:
        return
    run(
        [uv_bin(), "pip", "install", "--quiet", "--python", str(venv_python(venv_dir)),
         "--offline", "--no-index", "--no-cache", "--find-links", str(wheelhouse),
         *(["--compile-bytecode"] if compile_bytecode else []),
         *(["--link-mode", "copy"] if own_files else []), *requirements],
        what="installing from the wheelhouse (offline)",
        env=env,
        hint=hint,
        writes=venv_dir,
    )  # fmt: skip


def install(
    artifact_path: Path,
    venv_dir: Path,
    *,
    python: str | None = None,
    compile_bytecode: bool = False,
    own_files: bool = False,
) -> None:
    """Create ``venv_dir`` from the artifact's ``wheels/`` alone, offline (no index).

    Installs the service wheel (a package) or every pinned wheel (an app tree) with
    ``python``, else the one the artifact was built with (its frozen ``[service]
    python``), else stageline's own. The caller verifies the artifact first
    (``ArtifactStore.verify``).
    """
    manifest = parse_manifest((artifact_path / MANIFEST_NAME).read_bytes())
    wheelhouse = artifact_path / "wheels"
    install_wheelhouse(
        wheelhouse,
        requirements_of(manifest, wheelhouse),
        venv_dir,
        python=python or manifest.service.get("python") or sys.executable,
        compile_bytecode=compile_bytecode,
        own_files=own_files,
    )
