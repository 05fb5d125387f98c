"""Run the build's subprocesses; a failure becomes a BuildError carrying the log tail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import uv

from stageline.artifacts.manifest import PythonInfo
from stageline.errors import BuildError, DiskFull
from stageline.host.disk import says_disk_full
from stageline.host.priority import lowered

TAIL_LINES = 40


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(
    args: Sequence[str] | str,
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    hint: str | None = None,
    writes: Path | None = None,
) -> str:
    """Run a command (a string runs in the shell), return its output; BuildError on failure,
    DiskFull (naming ``writes``, else ``cwd``) when its output says the disk is full."""
    try:
        done = subprocess.run(
            lowered(args),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            shell=isinstance(args, str),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
    except OSError as error:
        raise BuildError(f"{what}: {error}", hint=hint) from error
    if done.returncode != 0 and says_disk_full(done.stdout):
        raise DiskFull(str(writes or cwd or Path.cwd()), f"{what} failed")
    if done.returncode != 0:
        raise BuildError(
            f"{what} failed (exit {done.returncode})", log_tail=tail(done.stdout), hint=hint
        )
    return done.stdout


def build_env(epoch: int, extra_path: Path | None = None) -> dict[str, str]:
    """The environment of every build subprocess: reproducible, quiet, caches kept."""
    env = dict(os.environ)
    env.update(
        SOURCE_DATE_EPOCH=str(epoch),
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(extra_path.parent)
    return env


def uv_bin() -> str:
    return uv.find_uv_bin()


_PROBE = (
    "import json, platform, sys, sysconfig; print(json.dumps({"
    "'implementation': sys.implementation.name, "
    "'version': '%d.%d' % sys.version_info[:2], "
    "'platform': sysconfig.get_platform().replace('-', '_').replace('.', '_'), "
    "'full': platform.python_version()}))"
)


def probe_python(python: str) -> tuple[PythonInfo, str]:
    """Implementation, ``X.Y`` version and platform tag of the target interpreter, and
    its full version (``3.12.1``)."""
    out = run([python, "-c", _PROBE], what=f"probing python {python}")
    data = json.loads(out)
    full = str(data.pop("full"))
    return PythonInfo.model_validate(data), full


def python_info(python: str) -> PythonInfo:
    """Implementation, ``X.Y`` version and platform tag of the target interpreter."""
    return probe_python(python)[0]


def pip(python: str) -> list[str]:
    """The command that runs pip for ``python``: this process's own pip, told to act for
    that interpreter (``--python``) when it is another one, which may have no pip."""
    here = [sys.executable, "-m", "pip"]
    return here if python == sys.executable else [*here, "--python", python]
