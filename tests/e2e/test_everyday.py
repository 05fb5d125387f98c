"""run and up on the example shop: real PostgreSQL, agent and processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from stageline.config import load_pipeline
from stageline.targets.backing import postgres_facts
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import cli

pytestmark = pytest.mark.slow
NEW = TAGS[1]

#: a write to the database the command is given: a table and a row naming the run
WRITE = (
    "import psycopg; c = psycopg.connect(os.environ['DATABASE_URL'], autocommit=True);"
    " c.execute('CREATE TABLE IF NOT EXISTS run_canary (note text)');"
    " c.execute('INSERT INTO run_canary VALUES (%s)', (sys.argv[1],));"
    " print(c.execute('SELECT current_database()').fetchone()[0]); c.close()"
)
#: what the one-off command prints: a line from its stdin, its database, its Python, the
#: database it wrote to
SHOW = (
    "import os, sys; print(input()); print(os.environ['DATABASE_URL']); print(sys.prefix);"
    f" {WRITE}; sys.exit(7)"
)


def run(repo: Path, *command: str, live: bool = False) -> subprocess.CompletedProcess[str]:
    """``stageline run development -C repo -- COMMAND`` (stageline's options before ``--``)."""
    options = ["-C", str(repo), *(["--live"] if live else []), "--"]
    return subprocess.run(
        [sys.executable, "-m", "stageline", "run", "development", *options, *command],
        input="typed by a person\n",
        capture_output=True,
        text=True,
        timeout=300,
    )


def serving(repo: Path) -> str:
    """The digest development's service says it runs."""
    url = load_pipeline(repo).environment("development").url
    digest: str = httpx.get(f"{url}/healthz", trust_env=False, timeout=10).json()["digest"]
    return digest


def live_state(repo: Path) -> tuple[str, list[str], list[str]]:
    """Development's live database: its name, the notes in run_canary (none without the
    table), and the scratch databases and roles of copies still on its server."""
    with Session.open(repo) as session:
        pipe = session.pipeline()
        env = pipe.environment("development")
        facts = postgres_facts(session.workspace.home, env, pipe.service.name)
    assert facts is not None and facts.port > 0
    with psycopg.connect(facts.url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('run_canary')").fetchone()
        notes = [] if found is None or found[0] is None else [
            str(r[0]) for r in conn.execute("SELECT note FROM run_canary ORDER BY 1")
        ]  # fmt: skip
        left = [str(r[0]) for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'stageline_copy%' UNION ALL "
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'stageline_copy%'"
        )]  # fmt: skip
    return facts.database, notes, left


def test_run_and_up_after_down_on_the_shop(shop: Path) -> None:
    """(``rollback --to TAG`` for real: tests/e2e/test_ship.py; names: tests/usecases.)"""
    deployed = cli(shop, "deploy", "development", NEW, "--json")
    assert deployed.returncode == 0, deployed.stderr
    new = json.loads(deployed.stdout)
    assert (new["tag"], new["release"]) == (NEW, NEW) and new["short"] == new["digest"][7:19]

    ran = run(shop, "python", "-c", SHOW, "copy")
    assert ran.returncode == 7, ran.stderr
    typed, database_url, prefix, wrote_to = ran.stdout.splitlines()
    assert typed == "typed by a person"  # stdin, stdout and the exit code are the command's
    assert database_url.startswith("postgresql://") and "127.0.0.1" in database_url
    assert Path(prefix).parts[-4:] == ("development", "releases", new["short"], "venv")
    # by default on a scratch copy: the write stays there, and the copy and its role go
    assert "on a copy of development's database; pass --live" in ran.stderr
    live, notes, left = live_state(shop)
    assert (
        wrote_to.startswith("stageline_copy_")
        and wrote_to != live
        and database_url.endswith(f"/{wrote_to}")
    )
    assert (notes, left) == ([], [])
    asked = run(shop, "python", "-c", f"import os, sys; {WRITE}", "live", live=True)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split() == [live] and "live database (--live)" in asked.stderr
    assert live_state(shop) == (live, ["live"], [])
    # stageline stopped while the command runs on a copy: the command is stopped with it,
    # and the copy and its role are dropped all the same
    waits = "import sys, time; print('ready', flush=True); time.sleep(120)"
    stopped = subprocess.Popen(
        [sys.executable, "-m", "stageline", "run", "development", "-C", str(shop), "--",
         "python", "-c", waits],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert stopped.stdout is not None and stopped.stdout.readline() == "ready\n"
        stopped.send_signal(signal.SIGTERM)
        assert stopped.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        stopped.kill()
        stopped.communicate()
    assert live_state(shop) == (live, ["live"], [])

    assert cli(shop, "down", "development").returncode == 0
    with pytest.raises(httpx.HTTPError):
        serving(shop)
    up = cli(shop, "up", "development")
    assert up.returncode == 0, up.stderr
    assert f"development runs {NEW} (sha256:{new['short']}) again, healthy" in up.stdout
    assert serving(shop) == new["digest"]
