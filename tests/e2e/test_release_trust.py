"""A deploy's lowered priority stays with its preparation work, and prepared release
folders are sealed (issue 18, breaks 7 and 10): the real example service on this host."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import httpx
import pytest

from stageline.host import release_folder
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli

pytestmark = pytest.mark.slow
OLD = TAGS[0]


def niceness(pid: int) -> int:
    """Field 19 of /proc/PID/stat (the fields after the command name start at field 3)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[16])


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def service_pids(repo: Path) -> list[int]:
    """The pids of development's service processes (the launchers the agent started)."""
    with Session.open(repo) as session:
        env = session.pipeline().environment("development")
        found = session.target(env, "shop").status()
    assert found is not None
    return [p.pid for p in found.processes] or [found.pid]  # type: ignore[list-item]


def env_status(repo: Path, name: str) -> dict[str, object]:
    result = cli(repo, "status", "--json")
    assert result.returncode == 0, result.stderr
    return {e["name"]: e for e in json.loads(result.stdout)["environments"]}[name]


def test_nothing_the_deploy_starts_inherits_its_lowered_priority(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_DEPLOY_NICE", "10")
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    done = cli(shop, "deploy", "development", OLD)
    assert done.returncode == 0, done.stdout + done.stderr

    home = shop / ".stageline"
    agent = int((home / "agent" / "agent.pid").read_text().split()[0])
    services = service_pids(shop)
    postmasters = [
        int(p.read_text().split()[0])
        for p in (home / "envs" / "development").rglob("postmaster.pid")
    ]
    started = [agent, *services, *[c for s in services for c in children(s)], *postmasters]
    assert len(started) >= 4, started  # agent, launcher, service, PostgreSQL
    assert {pid: niceness(pid) for pid in started} == {pid: ours for pid in started}


def test_a_prepared_release_folder_is_sealed_and_an_edit_refuses_to_run(shop: Path) -> None:
    done = cli(shop, "deploy", "development", OLD)
    assert done.returncode == 0, done.stdout + done.stderr
    status = env_status(shop, "development")
    digest = str(status["digest"])
    root = shop / ".stageline" / "envs" / "development" / "releases" / digest[7:19]
    assert release_folder.record_path(root).is_file()
    modules = sorted(root.glob("venv/lib/python*/site-packages/shop/*.py"))
    assert modules and not list(root.rglob("*.py~"))
    for path in (root, modules[0], modules[0].parent):
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path
        assert path.stat().st_nlink == 1 or path.is_dir()  # no inode shared with uv's cache
    assert release_folder.check(root, full=True) is None

    # the code is edited in place (as root, read-only does not stop it; the record does)
    victim = modules[0]
    victim.chmod(0o644)
    victim.write_text(victim.read_text() + "\nEDITED = True\n")
    changed = f"changed: {victim.relative_to(root).as_posix()}"

    # the agent's restart of a crashed service goes through the check too
    for service in service_pids(shop):
        os.killpg(service, signal.SIGKILL)
    log = shop / ".stageline" / "envs" / "development" / "logs" / "service.log"
    deadline = time.monotonic() + 30
    while "refusing to start" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert changed in log.read_text()

    # a deploy (as a rollback would) of the edited folder refuses, naming the file
    again = cli(shop, "deploy", "development", OLD)
    assert again.returncode == 1, again.stdout + again.stderr
    assert changed in again.stderr and "was changed after it was prepared" in again.stderr
    assert f"mv {root} {root}.changed" in again.stderr

    # the hint's way out: set it aside, deploy again, prepared afresh from the artifact
    root.rename(root.with_name(root.name + ".changed"))
    fresh = cli(shop, "deploy", "development", OLD)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "EDITED" not in (root / victim.relative_to(root)).read_text()
    url = str(env_status(shop, "development")["url"])
    assert httpx.get(f"{url}/healthz", timeout=5).json()["digest"] == digest
