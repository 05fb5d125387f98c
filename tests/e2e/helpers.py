"""The example services in real git repositories, with their two tags built once.

The shop (``stageline demo``'s service) is built once per session; every other example
under ``examples/`` becomes a repository with two tags by ``example_repo``. Each test
gets its own copy (repository, ``.stageline`` with the stored artifacts) with free ports
written into its pipeline file, and everything it started is stopped after.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.services.postgres import free_port
from stageline.usecases import pipeline
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session
from stageline.usecases.status import down


def own_tmp(prefix: str) -> Path:
    """A folder outside pytest's tmp root: as root, PostgreSQL runs as another user, and
    every pytest start resets /tmp/pytest-of-root to 0700 (see tests/conftest.py)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


#: the examples under examples/ besides the shop
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: their two releases: the tree without ``next/``, then the tree with ``next/`` laid over it
EXAMPLE_TAGS = ("v1.0.0", "v1.1.0")


def example_repo(name: str, dest: Path, tags: tuple[str, str] = EXAMPLE_TAGS) -> Path:
    """A git repository at ``dest`` holding ``examples/NAME``: the tree committed and
    tagged ``tags[0]``, then ``next/`` laid over it, committed and tagged ``tags[1]``."""
    source = EXAMPLES / name
    leave_out = shutil.ignore_patterns("next", "__pycache__", "*.pyc", ".venv", ".stageline")
    shutil.copytree(source, dest, ignore=leave_out)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    commit_and_tag(dest, tags[0], {})
    shutil.copytree(source / "next", dest, ignore=leave_out, dirs_exist_ok=True)
    commit_and_tag(dest, tags[1], {})
    return dest


@contextlib.contextmanager
def built_example(name: str) -> Iterator[Path]:
    """``example_repo(name)`` with both tags built into its ``.stageline``; removed after."""
    folder = own_tmp(f"stageline-{name}-")
    try:
        repo = example_repo(name, folder / name)
        with Session.open(repo) as session:
            for tag in EXAMPLE_TAGS:
                pipeline.build(session, tag)
        yield repo
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def shop_template() -> Iterator[Path]:
    folder = own_tmp("stageline-template-")
    repo = prepare_demo_repo(folder / "shop")
    with Session.open(repo) as session:
        for tag in TAGS:
            pipeline.build(session, tag)
    yield repo
    shutil.rmtree(folder, ignore_errors=True)


def use_free_ports(pipeline_file: Path) -> dict[str, int]:
    text = pipeline_file.read_text()
    ports: dict[str, int] = {}
    olds = sorted(set(re.findall(r"port = (\d+)", text)))
    # distinct ports, none equal to a port still to be replaced: the system may hand out
    # a port it just handed out (free_port closes its socket), and two environments on
    # one port is a config error
    taken = {int(old) for old in olds}
    for old in olds:
        new = free_port()
        while new in taken:
            new = free_port()
        taken.add(new)
        ports[old] = new
        text = text.replace(f":{old}", f":{new}").replace(f"port = {old}", f"port = {new}")
    pipeline_file.write_text(text)
    return {
        name: ports[p]
        for name, p in zip(
            ("development", "test", "staging", "production"), sorted(ports), strict=False
        )
    }


@contextlib.contextmanager
def workspace_copy(template: Path, prefix: str = "stageline-e2e-") -> Iterator[Path]:
    """A copy of ``template`` (repository and ``.stageline``) on free ports; everything it
    started is stopped, and the copy removed, afterwards."""
    folder = own_tmp(prefix)
    repo = folder / template.name
    shutil.copytree(template, repo, symlinks=True)
    use_free_ports(repo / "stageline.toml")
    try:
        yield repo
    finally:
        try:
            stop_everything(repo)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def shop(shop_template: Path) -> Iterator[Path]:
    with workspace_copy(shop_template) as repo:
        yield repo


def staging_first(repo: Path) -> None:
    """Drop development and test from the example's pipeline file, for a test about
    staging and production only: a ship then lands in staging directly (one deploy instead
    of three; new artifacts enter at the first environment)."""
    pipeline_file = repo / "stageline.toml"
    text = pipeline_file.read_text()
    start, end = text.index("[environments.development]"), text.index("[environments.staging]")
    pipeline_file.write_text(text[:start] + text[end:])


def stop_everything(repo: Path) -> None:
    """Stop the environments, their PostgreSQL servers and the agent; kill what is left."""
    try:
        with Session.open(repo) as session:
            down(session)
    finally:
        agent = repo / ".stageline" / "agent"
        pids: list[int] = []
        if (agent / "running.json").is_file():
            for entry in json.loads((agent / "running.json").read_text() or "{}").values():
                pid = entry.get("pid") if isinstance(entry, dict) else None
                if isinstance(pid, int):
                    pids.append(pid)
        if (agent / "agent.pid").is_file():
            pids.append(int((agent / "agent.pid").read_text().split()[0]))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def commit_and_tag(repo: Path, tag: str, edit: dict[str, tuple[str, str]]) -> None:
    """Edit files (path -> (old, new)), commit everything, tag."""
    for path, (old, new) in edit.items():
        file = repo / path
        text = file.read_text()
        assert old in text, (path, old)
        file.write_text(text.replace(old, new, 1))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for args in (["add", "-A"], ["commit", "-q", "-m", tag], ["tag", tag]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)


#: production's payment key in these tests (the example declares it as a secret there)
PAYMENT_KEY = "sk_test_e2e_4f1c9a"


def cli(repo: Path, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the stageline CLI on ``repo``; ``user`` becomes STAGELINE_USER."""
    env = {**os.environ, "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY": PAYMENT_KEY}
    if user is not None:
        env["STAGELINE_USER"] = user
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(repo)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


QA = ("ana@shop.example", "ben@shop.example", "chen@shop.example")


def sign_off(repo: Path, environment: str = "staging") -> None:
    """Run the gates and give the two approvals the example's staging requires."""
    verified = cli(repo, "verify", environment)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for person in QA[1:]:
        approved = cli(repo, "approve", environment, user=person)
        assert approved.returncode == 0, approved.stderr
