"""The README's demo command on a fresh Debian 12 machine, end to end (issue 21).

A cached ``debootstrap --variant=minbase --include=python3,python3-venv bookworm`` root
plus git (tests/fresh/rootfs.py), seen through a throw-away overlay; into it go this
checkout's committed tree and the host's CA certificates and package-index settings,
nothing else. As root inside it: ``./run demo`` (no uv, no pip, no compiler: ./run makes
.venv with ``python3 -m venv``, installs uv with the venv's pip, stageline with uv; the
C masks fall back to Python; PostgreSQL comes from the pgserver wheel and runs as an
unprivileged user), then ``stageline down`` from the demo's folder; last, with
python3-venv removed, ``./run`` stops with one line naming it (exit 2). Debian 12's Python is
3.11.2, below 3.11.4's ``extractall(filter=...)``: the same root checks the Python floor
by importing every stageline module and running the safe-extraction tests there.

It needs root (chroot, mounts), debootstrap (``.ci/run`` installs it) and the network
path to Debian's mirror and the package index that the host has.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.fresh import rootfs
from tests.fresh.project import committed_tree

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys, stageline
names = [m.name for m in pkgutil.walk_packages(stageline.__path__, "stageline.")]
for name in names:  # not the C masks (no compiler here), nor __main__ (it runs the CLI)
    if name != "stageline._speedups" and not name.endswith(".__main__"):
        importlib.import_module(name)
print(sys.version.split()[0], len(names), "modules")
"""


def _require_a_root_builder() -> None:
    """Fail (never skip) with what is missing: this test runs in CI as root."""
    assert os.geteuid() == 0, "the fresh-machine test needs root (chroot and mounts)"
    missing = [tool for tool in ("debootstrap", "chroot", "mount") if not shutil.which(tool)]
    assert not missing, f"missing {', '.join(missing)}: apt-get install debootstrap (.ci/run does)"


@pytest.mark.slow
def test_the_readme_demo_runs_on_a_fresh_debian_12_machine(
    tmp_path: Path, demo_ports: None
) -> None:
    _require_a_root_builder()
    started = time.monotonic()
    lower = rootfs.cached_root()
    built = time.monotonic()
    with rootfs.overlaid(lower, tmp_path / "overlay") as root, rootfs.mounted(root):
        copied = rootfs.copy_host_settings(root)
        assert rootfs.CA_BUNDLE in copied
        committed_tree(root / "root" / "stageline")
        assert not (root / "usr/bin/uv").exists() and not (root / "usr/bin/gcc").exists()

        demo = rootfs.run_in(root, ["bash", "-c", "cd /root/stageline && ./run demo"], timeout=1500)
        demo_done = time.monotonic()
        out = demo.stdout + demo.stderr
        assert "ok production: 1.7.0rc1" in out
        assert "stageline down" in demo.stdout  # how to stop it all, said last
        assert "/etc/apt" not in out and "pip install --user" not in out
        # no compiler in the root: the build fell back to masking in Python, said once
        assert out.count("the C masks were not built") == 1
        assert not list((root / "root/stageline/src/stageline").glob("_speedups*.so"))

        down = rootfs.run_in(
            root, ["bash", "-c", "cd /root/stageline/stageline-demo && ../run stageline down"]
        )
        assert "stopped production, staging, test, development" in down.stdout
        assert rootfs.processes_inside(root) == {}, "stageline down left processes running"

        python = "/root/stageline/.venv/bin/python"
        floor = rootfs.run_in(root, [python, "-c", IMPORT_EVERY_MODULE])
        assert floor.stdout.startswith("3.11."), floor.stdout
        untar_tests = rootfs.run_in(
            root,
            [
                "bash",
                "-c",
                "cd /root/stageline && .venv/bin/pytest -q -p no:cacheprovider "
                "tests/artifacts/test_untar.py",
            ],
        )
        assert " passed" in untar_tests.stdout

        # the same machine without python3-venv (and no uv, no pip): one line, exit 2
        rootfs.run_in(root, ["dpkg", "--remove", "python3-venv", "python3.11-venv"])
        bare = rootfs.run_in(
            root,
            ["bash", "-c", "rm -rf /root/stageline/.venv && cd /root/stageline && ./run demo"],
            check=False,
        )
        assert bare.returncode == 2 and bare.stdout == "", bare.stdout + bare.stderr
        assert len(bare.stderr.splitlines()) == 1 and "apt-get install python3-venv" in bare.stderr
        assert not (root / "root/stageline/.venv").exists()
    print(
        f"fresh Debian 12: root {built - started:.0f} s, ./run demo {demo_done - built:.0f} s, "
        f"total {time.monotonic() - started:.0f} s; {floor.stdout.strip()}"
    )
