"""A service with a web and a worker process type, a Redis backing and a persist folder,
deployed for real: the worker takes a job pushed through the web, a second deploy
switches both, a worker that cannot start fails the deploy and the previous release
keeps running, the persist folder keeps its files across the switch and is the
environment's own, and ``down`` stops the Redis server (which wants its password)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stageline.errors import DeployFailed
from stageline.host.procfs import is_alive
from stageline.services.postgres import free_port
from stageline.services.redis import Connection, ReplyError
from stageline.usecases import deploy, pipeline
from stageline.usecases.pipeline import Session
from stageline.usecases.status import down, status
from tests.e2e.helpers import cli, commit_and_tag, own_tmp, stop_everything

pytestmark = pytest.mark.slow
APP = Path(__file__).with_name("jobs")

PIPELINE = """
[service]
name = "jobs"
health = "/healthz"
persist = ["uploads"]

[service.processes]
web = "python web.py {{port}}"
worker = "python worker.py"

[defaults]
watch = 0
drain_timeout = 2

[defaults.services.redis]
provider = "system"

[defaults.vars]
JOBS_REDIS = "${{redis.url}}"

[environments.development]
tier = "development"
url = "http://127.0.0.1:{dev}"
target = {{ kind = "local", port = {dev} }}

[environments.preview]
tier = "development"
url = "http://127.0.0.1:{preview}"
target = {{ kind = "local", port = {preview} }}
"""


@pytest.fixture(scope="module")
def jobs_repo() -> Iterator[Path]:
    """The jobs service in a repository tagged v1 (worker "one"), v2 ("two") and v3 (a
    worker that exits at start), all built."""
    folder = own_tmp("stageline-jobs-")
    repo = folder / "jobs"
    shutil.copytree(APP, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "stageline.toml").write_text(PIPELINE.format(dev=free_port(), preview=free_port()))
    (repo / ".gitignore").write_text(".stageline/\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    commit_and_tag(repo, "v1", {})
    version = ('VERSION = "one"', 'VERSION = "two"')
    commit_and_tag(repo, "v2", {"web.py": version, "worker.py": version})
    commit_and_tag(
        repo, "v3", {"worker.py": ("import resp\n", "import resp\n\nraise SystemExit(3)\n")}
    )
    try:
        with Session.open(repo) as session:
            for tag in ("v1", "v2", "v3"):
                pipeline.build(session, tag)
        yield repo
    finally:
        try:
            stop_everything(repo)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def wait_for_done(url: str, prefix: str) -> str:
    """The first finished job whose text starts with ``prefix``, waiting up to 20 s."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for item in httpx.get(f"{url}/done", trust_env=False, timeout=10).json():
            if item.startswith(prefix):
                return str(item)
        time.sleep(0.1)
    raise AssertionError(f"no finished job starting with {prefix!r}")


def push(url: str, text: str) -> None:
    assert httpx.post(f"{url}/jobs", params={"text": text}, trust_env=False).status_code == 202


def test_web_and_worker_switch_together_with_their_redis_and_persist_folder(
    jobs_repo: Path,
) -> None:
    with Session.open(jobs_repo) as session:
        pipe = session.pipeline()
        dev, preview = pipe.environment("development"), pipe.environment("preview")
        deploy.deploy(session, "development", "v1")
        target = session.target(dev, "jobs")
        push(dev.url, "hello")
        first = wait_for_done(dev.url, "one:HELLO:")
        old_worker = int(first.rsplit(":", 1)[1])
        assert httpx.post(f"{dev.url}/upload", params={"name": "a.txt"}, trust_env=False).is_success
        running = target.status()
        assert running is not None
        assert [p.process_type for p in running.processes] == ["web", "worker"]
        shown = status(session).to_json()["environments"][0]  # `stageline status --json`
        assert (shown["processes"], shown["workers"]) == (1, {"worker": "running"})

        deploy.deploy(session, "development", "v2")
        push(dev.url, "again")
        second = wait_for_done(dev.url, "two:AGAIN:")
        assert not is_alive(old_worker, None), "the old worker was stopped with the old web"
        assert int(second.rsplit(":", 1)[1]) != old_worker
        assert httpx.get(f"{dev.url}/uploads", trust_env=False).json() == ["a.txt"]
        kept = jobs_repo / ".stageline" / "envs" / "development" / "persist" / "uploads"
        assert (kept / "a.txt").read_text() == "one"
        shown = cli(jobs_repo, "logs", "development", "--process", "worker")
        assert shown.returncode == 0 and "worker two" in shown.stdout, shown.stderr
        wrong = cli(jobs_repo, "logs", "development", "--process", "wroker")
        assert wrong.returncode != 0 and "valid: web, worker" in wrong.stderr

        with pytest.raises(DeployFailed) as failed:
            deploy.deploy(session, "development", "v3")
        assert "worker process exited with code 3" in str(failed.value)
        push(dev.url, "still")
        assert wait_for_done(dev.url, "two:STILL:")  # v2's web and worker keep running

        deploy.deploy(session, "preview", "v1")
        assert httpx.get(f"{preview.url}/uploads", trust_env=False).json() == []
        facts = target.redis(start=False)
        other = session.target(preview, "jobs").redis(start=False)
        assert facts is not None and other is not None and facts.port != other.port
        assert facts.password and facts.password != other.password
        with Connection("127.0.0.1", facts.port) as conn, pytest.raises(ReplyError, match="NOAUTH"):
            conn.call("PING")
        with Connection("127.0.0.1", facts.port) as conn, pytest.raises(ReplyError):
            conn.call("AUTH", other.password)  # preview's password does not open it
        config = jobs_repo / ".stageline" / "envs" / "development" / "redis" / "redis.conf"
        assert config.stat().st_mode & 0o077 == 0 and "bind 127.0.0.1\n" in config.read_text()
        server_pid = (config.parent / "redis.pid").read_text().strip()
        if os.geteuid() == 0:  # as root, the server runs as an unprivileged user
            assert Path(f"/proc/{server_pid}").stat().st_uid != 0
        with Connection("127.0.0.1", facts.port) as conn:
            assert conn.call("AUTH", facts.password) == "OK"
            assert conn.call("PING") == "PONG"

        assert set(down(session)) == {"development", "preview"}
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", facts.port), 2):
            pass
