"""The ``migrations`` gate never touches staging's live database (issue 17).

Two example services read their database from their own variables, never from
``DATABASE_URL``: ``examples/fastapi-pg`` (Alembic's ``env.py`` reads ``POSTGRES_*``)
and ``examples/django-pg`` (Django's settings read ``DB_*``). For each, production runs
the first tag and staging the second; while ``verify staging`` rehearses the migration, a
watcher polls staging's live database every 20 ms (the columns of every table, the
migration tool's bookkeeping, a canary row) and must see no difference at all, and the
rehearsal report must show the copy moving: down to production's revision, up to the
head, down again, up again. A pipeline that points the tool at the live database on
purpose (literal host, port, database, user and password instead of ``${postgres.*}``)
must fail the gate with the tripwire's message, naming those variables, whether the tool
would change the live database (production on the first tag) or only open it (a first
release, the live database already at the head).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stageline.targets.backing import postgres_facts
from stageline.usecases.pipeline import Session
from tests.e2e.helpers import EXAMPLE_TAGS, built_example, cli, workspace_copy

pytestmark = pytest.mark.slow
OLD, NEW = EXAMPLE_TAGS


@dataclass(frozen=True)
class Example:
    """What the tests need to know about one example service."""

    name: str
    #: the variables its code reads for host, port, database, user, password
    variables: tuple[str, str, str, str, str]
    #: the migration tool's bookkeeping, as rows that say which migrations are applied
    versions: str
    #: a row the tests own, written into the live database (needs the second tag's schema)
    insert_canary: str
    read_canary: str
    #: the revisions as the rehearsal reports them: production's (first tag), the head
    old_revision: str
    new_revision: str


EXAMPLES = {
    "fastapi-pg": Example(
        name="fastapi-pg",
        variables=(
            "POSTGRES_SERVER",
            "POSTGRES_PORT",
            "POSTGRES_DB",
            "POSTGRES_USER",
            "POSTGRES_PASSWORD",
        ),
        versions="SELECT version_num FROM alembic_version ORDER BY 1",
        insert_canary="INSERT INTO tasks (title, done, priority) VALUES ('canary', true, 7)",
        read_canary="SELECT row_to_json(t)::text FROM tasks t WHERE title = 'canary'",
        old_revision="0001",
        new_revision="0002",
    ),
    "django-pg": Example(
        name="django-pg",
        variables=("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"),
        versions="SELECT app, name FROM django_migrations ORDER BY app, name",
        insert_canary=(
            "INSERT INTO books_book (title, author, added_at, priority) "
            "VALUES ('canary', 'Canary', now(), 7)"
        ),
        read_canary="SELECT row_to_json(b)::text FROM books_book b WHERE title = 'canary'",
        old_revision="books:0001_initial",
        new_revision="books:0002_priority",
    ),
}

COLUMNS = """SELECT table_name, column_name, data_type, is_nullable, column_default
             FROM information_schema.columns WHERE table_schema = 'public'
             ORDER BY table_name, ordinal_position"""


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def template(request: pytest.FixtureRequest) -> Iterator[tuple[Example, Path]]:
    """One example in a git repository with both tags built (once per module)."""
    with built_example(request.param) as repo:
        yield EXAMPLES[request.param], repo


@pytest.fixture
def workspace(template: tuple[Example, Path]) -> Iterator[tuple[Example, Path]]:
    example, repo = template
    with workspace_copy(repo, prefix=f"stageline-isolation-{example.name}-") as copy:
        yield example, copy


def run_ok(repo: Path, *args: str) -> str:
    done = cli(repo, *args)
    assert done.returncode == 0, f"stageline {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def live_database(repo: Path, environment: str = "staging") -> Any:
    """The facts (host, port, user, password, database) of the environment's database."""
    with Session.open(repo) as session:
        pipe = session.pipeline()
        facts = postgres_facts(
            session.workspace.home, pipe.environment(environment), pipe.service.name
        )
    assert facts is not None and facts.port > 0, f"{environment} has no running database"
    return facts


def state_of(conn: psycopg.Connection[Any], example: Example) -> tuple[object, ...]:
    """What must not change: every table's columns, the applied migrations, the canary."""
    return (
        conn.execute(COLUMNS).fetchall(),
        conn.execute(example.versions).fetchall(),
        conn.execute(example.read_canary).fetchall(),
    )


@dataclass
class Watcher:
    """Polls the live database every ``interval`` seconds in a thread; keeps each state
    that differs from the first one (a failed poll is a difference too)."""

    url: str
    example: Example
    interval: float = 0.02
    polls: int = 0
    baseline: tuple[object, ...] = ()
    changes: list[tuple[float, object]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(15), "the watcher could not read the live database"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        options = "-c statement_timeout=5000"
        with psycopg.connect(
            self.url, autocommit=True, application_name="e2e-live-watcher", options=options
        ) as conn:
            self.baseline = state_of(conn, self.example)
            self._ready.set()
            started = time.monotonic()
            while not self._stop.wait(self.interval):
                self.polls += 1
                try:
                    state: object = state_of(conn, self.example)
                except psycopg.Error as exc:
                    state = f"poll failed: {str(exc).strip()}"
                if state != self.baseline and len(self.changes) < 50:
                    self.changes.append((round(time.monotonic() - started, 3), state))

    def report(self) -> str:
        """The baseline, then each new state the watcher saw (first time seen)."""
        lines = [f"baseline: {self.baseline}"]
        seen: list[object] = []
        for at, state in self.changes:
            if state not in seen:
                seen.append(state)
                lines.append(f"after {at}s: {state}")
        return "\n".join(lines[:6])


def rehearsal_report(repo: Path) -> dict[str, Any]:
    """The JSON report of staging's newest ``migrations`` gate run."""
    with Session.open(repo) as session:
        runs = [r for r in session.store.gate_runs("staging") if r.gate == "migrations"]
    assert runs and runs[0].report_path, "no rehearsal report was stored"
    data: dict[str, Any] = json.loads(
        Path(runs[0].report_path).with_name("rehearsal.json").read_text(encoding="utf-8")
    )
    return data


def test_verify_leaves_the_live_staging_database_untouched(
    workspace: tuple[Example, Path],
) -> None:
    example, repo = workspace
    run_ok(repo, "deploy", "production", OLD, "--force")  # production runs the first tag
    run_ok(repo, "deploy", "staging", NEW, "--force")  # staging runs the second
    live = live_database(repo)
    with psycopg.connect(live.url, autocommit=True) as conn:
        conn.execute(example.insert_canary)

    with Watcher(live.url, example) as watcher:
        verified = cli(repo, "verify", "staging")
    output = verified.stdout + verified.stderr

    assert watcher.polls >= 20, f"the watcher polled only {watcher.polls} times"
    assert watcher.changes == [], (
        f"the live staging database changed during `verify staging` "
        f"({len(watcher.changes)} of {watcher.polls} polls differ):\n{watcher.report()}\n{output}"
    )
    with psycopg.connect(live.url, autocommit=True) as conn:
        assert state_of(conn, example) == watcher.baseline
    report = rehearsal_report(repo)
    facts = report["facts"]
    steps = [(s["name"], s["ok"], s["reached"]) for s in facts["steps"]]
    old, new = example.old_revision, example.new_revision
    assert (facts["production_revision"], facts["head_revision"]) == (old, new), steps
    assert steps == [
        ("prepare", True, old),  # the copy of staging (at the head) brought to production's
        ("upgrade", True, new),
        ("downgrade", True, old),
        ("upgrade again", True, new),
    ], output
    assert report["passed"], output
    assert verified.returncode == 0, output


@pytest.mark.parametrize("production", [OLD, None], ids=["production-runs-v1", "first-release"])
def test_a_tool_pointed_at_the_live_database_fails_the_gate(
    workspace: tuple[Example, Path], production: str | None
) -> None:
    """With production on the first tag the tool would migrate the live database down and
    up again; on a first release it would only open it (the live database is at the head).
    Either way the gate sees the variables name the live database outright and runs
    nothing: a short contact could slip between the tripwire's polls."""
    example, repo = workspace
    if production is not None:
        run_ok(repo, "deploy", "production", production, "--force")
    run_ok(repo, "deploy", "staging", NEW, "--force")
    live = live_database(repo)
    values = (live.host, str(live.port), live.database, live.user, live.password)
    literal = "".join(
        f'{name} = "{value}"\n' for name, value in zip(example.variables, values, strict=True)
    )
    pipeline_file = repo / "stageline.toml"
    pipeline_file.write_text(
        pipeline_file.read_text() + f"\n[environments.staging.vars]\n{literal}"
    )

    verified = cli(repo, "verify", "staging", "--gate", "migrations")
    output = verified.stdout + verified.stderr

    assert verified.returncode == 1, output
    flat = " ".join(output.split())  # the CLI wraps long lines
    assert "would have reached the live database" in flat and "so it was not run" in flat, output
    named = [name for name in example.variables if re.search(rf"\b{name}\b", output)]
    assert named, f"the message names none of {example.variables}:\n{output}"
    with Session.open(repo) as session:
        runs = [r for r in session.store.gate_runs("staging") if r.gate == "migrations"]
    assert runs[0].status == "failed" and "reached the live database" in runs[0].summary
