"""Benchmark: build the example service (examples/shop) into an artifact.

Copies examples/shop into a fresh git repository, tags it, and reports the cold build
time (empty store), the warm rebuild (reuse) time, a second full build from another
clone into another store (caches warm), the artifact size and file count, and whether
the digests agree. Run: ``.venv/bin/python bench/build.py`` (add ``--cold-caches`` to
give pip and uv empty caches of their own, so the cold build downloads everything;
``--quick`` leaves out the second full build from another clone).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stageline.artifacts import ArtifactStore, BuildResult, build, install  # noqa: E402
from stageline.artifacts.runner import uv_bin  # noqa: E402

EXAMPLE = ROOT / "examples" / "shop"
TAG = "v1.6.0"
IGNORE = shutil.ignore_patterns(
    ".venv", "__pycache__", ".pytest_cache", ".stageline", ".mypy_cache", ".ruff_cache",
    "*.egg-info", "build", "dist", ".git",
)  # fmt: skip


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_AUTHOR_DATE": "2024-05-01T12:00:00+00:00",
        "GIT_COMMITTER_DATE": "2024-05-01T12:00:00+00:00",
    }  # fmt: skip
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_repo(path: Path) -> Path:
    shutil.copytree(EXAMPLE, path, ignore=IGNORE)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "shop")
    git(path, "tag", TAG)
    return path


def cache_state() -> str:
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
    ).stdout.strip()
    uv = subprocess.run([uv_bin(), "cache", "dir"], capture_output=True, text=True).stdout.strip()

    def state(path: str) -> str:
        return "warm" if path and Path(path).is_dir() and any(Path(path).iterdir()) else "cold"

    return f"pip cache {state(pip)} ({pip}), uv cache {state(uv)} ({uv})"


def timed(repo: Path, store: ArtifactStore) -> tuple[float, BuildResult]:
    start = time.perf_counter()
    result = build(repo, TAG, store, progress=lambda m: print(f"    {m}"))
    return time.perf_counter() - start, result


def other_clone(base: Path, repo: Path) -> tuple[float, BuildResult]:
    clone = base / "elsewhere" / "shop-clone"
    clone.parent.mkdir()
    git(base, "clone", "-q", str(repo), str(clone))
    print("==> full build from another clone into another store (caches warm)")
    return timed(clone, ArtifactStore(base / "store-2"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-caches", action="store_true", help="empty pip and uv caches")
    parser.add_argument(
        "--other-clone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also build from another clone into another store (caches warm)",
    )
    args = parse(parser, other_clone=False)
    if not (EXAMPLE / "stageline.toml").is_file():
        print(f"no example service at {EXAMPLE} (stageline.toml missing); nothing to measure")
        return 1
    with tempfile.TemporaryDirectory(prefix="stageline-bench-") as temp:
        base = Path(temp)
        if args.cold_caches:
            os.environ["PIP_CACHE_DIR"] = str(base / "pip-cache")
            os.environ["UV_CACHE_DIR"] = str(base / "uv-cache")
        print(f"==> caches before the cold build: {cache_state()}")
        repo = make_repo(base / "shop")
        store = ArtifactStore(base / "store")
        print(f"==> cold build of {TAG} (empty store)")
        cold, first = timed(repo, store)
        print("==> warm rebuild (same store: reuse)")
        warm, second = timed(repo, store)
        full, third = other_clone(base, repo) if args.other_clone else (None, first)
        start = time.perf_counter()
        os.environ.update(UV_OFFLINE="1", UV_INDEX_URL="http://127.0.0.1:9/simple")
        install(first.path, base / "venv")
        installed = time.perf_counter() - start
        files = len(first.manifest.files) + 1
        wheels = sum(1 for f in first.manifest.files if f.path.startswith("wheels/"))
        print()
        print(f"cold build:            {cold:6.2f} s")
        print(f"warm rebuild (reuse):  {warm:6.2f} s  (reused={second.reused})")
        if full is not None:
            print(f"second full build:     {full:6.2f} s")
        print(f"offline install (uv):  {installed:6.2f} s")
        print(f"artifact size:         {first.size_bytes / 1e6:6.2f} MB, {files} files"
              f" ({wheels} wheels, {len(first.manifest.pins)} pins"
              f" from {first.manifest.pinned_from})")  # fmt: skip
        print(f"digest:                {first.digest}")
        same = first.digest == second.digest == third.digest
        compared = "cold, reuse, other clone" if args.other_clone else "cold, reuse"
        print(f"digests equal:         {same} ({compared})")
        return 0 if same else 2


if __name__ == "__main__":
    raise SystemExit(main())
