"""``./run``'s bootstrap paths, each in a copy of the committed tree with a controlled PATH
and HOME: uv on PATH; only ``python3 -m venv``; neither (one line, exit 2).

``python3`` on the controlled PATH is a shim for this Python's base interpreter; "no venv"
is that shim with an ``ensurepip`` that cannot be imported, as on Debian and Ubuntu
without python3-venv. Installs reuse the host's uv and pip caches (warm, so quick) and its
package-index settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import uv

from tests.fresh import rootfs
from tests.fresh.project import committed_tree

BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
SYSTEM_PATH = "/usr/bin:/bin"


def _shim_bin(tmp_path: Path, *, venv: bool, with_uv: bool) -> Path:
    """A folder holding ``python3`` (without ensurepip unless ``venv``) and maybe ``uv``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    shadow = ""
    if not venv:
        broken = tmp_path / "shadow" / "ensurepip"
        broken.mkdir(parents=True)
        (broken / "__init__.py").write_text(
            "raise ModuleNotFoundError(\"No module named 'ensurepip'\")\n"
        )
        shadow = f"PYTHONPATH={broken.parent} "
    (folder / "python3").write_text(f'#!/bin/sh\n{shadow}exec {BASE_PYTHON} "$@"\n')
    (folder / "python3").chmod(0o755)
    if with_uv:
        (folder / "uv").symlink_to(uv.find_uv_bin())
    return folder


def _made_by_uv(venv: Path) -> bool:
    """uv writes its version into the venv's pyvenv.cfg; ``python3 -m venv`` does not."""
    config = (venv / "pyvenv.cfg").read_text()
    return any(line.split("=")[0].strip() == "uv" for line in config.splitlines())


def _run(
    tree: Path, tmp_path: Path, shims: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    real_home = Path.home()
    env = {
        **rootfs.host_environment(),
        "HOME": str(home),
        "PATH": f"{shims}:{SYSTEM_PATH}",
        "LANG": "C.UTF-8",
        # the host's caches, so a test install downloads nothing twice
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(real_home / ".cache" / "uv")),
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip")),
    }
    return subprocess.run(
        [str(tree / "run"), *args],
        cwd=cwd or tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_without_uv_or_venv_run_names_the_package_and_exits_2(tmp_path: Path) -> None:
    assert BASE_PYTHON.exists(), BASE_PYTHON
    tree = committed_tree(tmp_path / "stageline")
    shims = _shim_bin(tmp_path, venv=False, with_uv=False)
    done = _run(tree, tmp_path, shims, "stageline", "version")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stdout == "", done.stderr
    distribution = Path("/etc/os-release").read_text()
    if "debian" in distribution or "ubuntu" in distribution:
        assert "apt-get install python3-venv" in lines[0]
    assert "https://docs.astral.sh/uv/" in lines[0]
    assert not (tree / ".venv").exists()
    assert not (tmp_path / "home" / ".local").exists()


@pytest.mark.slow
def test_with_only_python3_venv_run_makes_the_venv_and_keeps_the_callers_folder(
    tmp_path: Path,
) -> None:
    tree = committed_tree(tmp_path / "stageline")
    shims = _shim_bin(tmp_path, venv=True, with_uv=False)
    service = tmp_path / "service"
    service.mkdir()
    done = _run(tree, tmp_path, shims, "stageline", "init", cwd=service)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (service / "stageline.toml").is_file()  # where it was called from
    assert not (tree / "stageline.toml").exists()
    assert not _made_by_uv(tree / ".venv")  # made by python3 -m venv
    assert (tree / ".venv" / "bin" / "uv").exists()  # installed by the venv's own pip
    assert not (tmp_path / "home" / ".local").exists()  # nothing went into a user site
    again = _run(tree, tmp_path, shims, "stageline", "version")  # no uv on PATH: .venv's
    assert again.returncode == 0 and again.stdout.strip() == "0.1.0", again.stderr


@pytest.mark.slow
def test_with_uv_on_path_run_uses_it(tmp_path: Path) -> None:
    tree = committed_tree(tmp_path / "stageline")
    shims = _shim_bin(tmp_path, venv=False, with_uv=True)  # no venv module needed then
    done = _run(tree, tmp_path, shims, "stageline", "version")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "0.1.0"
    assert _made_by_uv(tree / ".venv")  # uv's venv, not python3 -m venv
    assert not (tmp_path / "home" / ".local").exists()
