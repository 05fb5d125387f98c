"""The demo: a real git repository made from the bundled example service, with two tags.

``prepare_demo_repo`` is used by ``stageline demo``, the benchmarks and the end-to-end
tests, so all of them ship the same service the same way. ``serve_traffic`` plays users
of production for a few seconds (the mix its proxy records, which the ``load`` gate then
replays on staging).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from stageline.errors import GitError, UsageError
from stageline.host.workspace import Workspace
from stageline.usecases.pipeline import Session
from stageline.usecases.status import down

TAGS = ("v1.6.0", "v1.7.0-rc1")
#: what the demo's users of production do: browse products, look at orders, and the
#: health checks of a monitor (the shop's reads; its writes charge real cards there)
USERS = {"GET /products": 0.6, "GET /orders/{id}": 0.25, "GET /healthz": 0.15}
_IGNORE = shutil.ignore_patterns(
    ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".stageline", "*.egg-info", "versions_next"
)
#: fixed identity and dates, so every demo repository has the same commits and digests
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "stageline demo",
    "GIT_AUTHOR_EMAIL": "demo@stageline.invalid",
    "GIT_COMMITTER_NAME": "stageline demo",
    "GIT_COMMITTER_EMAIL": "demo@stageline.invalid",
}


def example_source() -> Path:
    """The bundled example service: in the wheel, or in the source checkout."""
    package = Path(__file__).resolve().parents[1]  # src/stageline (or the installed one)
    for candidate in (package / "_examples" / "shop", package.parents[1] / "examples" / "shop"):
        if (candidate / "stageline.toml").is_file():
            return candidate
    raise UsageError("the bundled example service is missing", hint="reinstall stageline")


def prepare_demo_repo(dest: Path) -> Path:
    """Create (or reuse) a git repository at ``dest`` with the example tagged v1.6.0, v1.7.0-rc1."""
    dest = dest.resolve()
    if (dest / ".git").is_dir() and _has_tags(dest):
        return dest
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(
            f"{dest} exists and is not a stageline demo repository",
            hint="choose another folder with --path, or remove it",
        )
    source = example_source()
    shutil.copytree(source, dest, ignore=_IGNORE, dirs_exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _commit_and_tag(dest, "shop 1.6.0", TAGS[0], "2026-01-05T10:00:00+00:00")
    _release_1_7(dest, source)
    _commit_and_tag(
        dest, "shop 1.7.0-rc1: order notes (schema migration)", TAGS[1], "2026-02-02T10:00:00+00:00"
    )
    return dest


def _release_1_7(dest: Path, source: Path) -> None:
    """The second release: a schema migration and a version bump."""
    for migration in (source / "migrations" / "versions_next").glob("*.py"):
        shutil.copy2(migration, dest / "migrations" / "versions" / migration.name)
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('version = "1.6.0"', 'version = "1.7.0rc1"'),
        encoding="utf-8",
    )


def _has_tags(repo: Path) -> bool:
    tags = set(_git(repo, "tag", "--list").split())
    return all(tag in tags for tag in TAGS)


def _commit_and_tag(repo: Path, message: str, tag: str, when: str) -> None:
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    _git(repo, "add", "-A", env=env)
    _git(repo, "commit", "-q", "-m", message, env=env)
    _git(repo, "tag", "-a", tag, "-m", message, env=env)


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=full_env
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def serve_traffic(url: str, *, rate: float = 20.0, seconds: float = 3.0) -> tuple[int, int]:
    """Send :data:`USERS`' mix to ``url`` (production's public port, through its proxy)
    at ``rate`` requests a second for ``seconds``; (requests sent, answered with a status
    below 500)."""
    from urllib.parse import urlsplit

    from stageline.load.generator import drive
    from stageline.load.schedule import Source, plan

    parts = urlsplit(url)
    orders = Source(rows=(("1",), ("2",), ("3",)))
    jobs = plan(USERS, rate, seconds, {"GET /orders/{id}": orders})
    run = drive(parts.hostname or "127.0.0.1", parts.port or 80, jobs, max_connections=16)
    return len(run.samples), sum(1 for sample in run.samples if not sample.failed)


def reset_demo_state(repo: Path) -> bool:
    """Stop a previous demo's environments and forget its deployments (artifacts stay).

    Only for the demo repository: a second ``stageline demo`` then runs the same story
    again from the start, reusing the stored builds.
    """
    home = Workspace.at(repo).home
    if not (home / "state.db").exists() and not (home / "envs").exists():
        return False
    with Session.open(repo) as session:
        down(session)
    shutil.rmtree(home / "envs", ignore_errors=True)
    for leftover in home.glob("state.db*"):
        leftover.unlink()
    return True
