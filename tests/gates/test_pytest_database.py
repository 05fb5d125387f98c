"""The ``pytest`` gate's ``database`` option on a real server: by default the suite gets
an isolated copy (its variables re-resolved, its own role, the tripwire watching live);
a suite that reaches the live database anyway fails; ``database = "live"`` is said so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from stageline.config.model import Environment
from stageline.config.resolve import PostgresFacts, ReleaseFacts, service_environment
from stageline.gates.base import GateContext
from stageline.gates.pytest_gate import PytestGate, PytestOptions
from stageline.services.postgres import PostgresServer

from .conftest import MakeContext

SUITE = """
import os
import psycopg


def test_writes_where_it_is_told():
    url = "postgresql://{}:{}@{}:{}/{}".format(
        os.environ["POSTGRES_USER"], os.environ["POSTGRES_PASSWORD"],
        os.environ["POSTGRES_SERVER"], os.environ["POSTGRES_PORT"], os.environ["POSTGRES_DB"],
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('from the suite')")
        names = [r[0] for r in conn.execute("SELECT name FROM items ORDER BY id")]
    assert names[0] == "canary"
    print("DATABASE", os.environ["POSTGRES_DB"])
"""

VARS = {
    "POSTGRES_SERVER": "${postgres.host}",
    "POSTGRES_PORT": "${postgres.port}",
    "POSTGRES_DB": "${postgres.database}",
    "POSTGRES_USER": "${postgres.user}",
    "POSTGRES_PASSWORD": "${postgres.password}",
}


@pytest.fixture
def live(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"live_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(name)
    with psycopg.connect(postgres_server.url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO items (name) VALUES ('canary')")
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def context(
    make_context: MakeContext, server: PostgresServer, live: str, variables: dict[str, str]
) -> GateContext:
    url = server.url(live)
    env = Environment.model_validate({
        "name": "staging", "tier": "staging", "url": "http://127.0.0.1:9",
        "target": {"port": 8603}, "services": {"postgres": {"provider": "external", "url": url}},
        "vars": variables,
    })  # fmt: skip
    resolved = service_environment(
        env, ReleaseFacts("1.7.0", "sha256:ab"), port=8603,
        postgres=PostgresFacts.from_url(url), secrets={},
    )  # fmt: skip
    ctx = make_context(environment=env, variables=resolved)
    tests = ctx.bundle / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "test_suite.py").write_text(SUITE, encoding="utf-8")
    return ctx


def live_names(server: PostgresServer, live: str) -> list[str]:
    with psycopg.connect(server.url(live), autocommit=True) as conn:
        return [str(r[0]) for r in conn.execute("SELECT name FROM items ORDER BY id")]


def test_suite_runs_on_an_isolated_copy_by_default(
    make_context: MakeContext, postgres_server: PostgresServer, live: str
) -> None:
    ctx = context(make_context, postgres_server, live, VARS)
    result = PytestGate().run(ctx, PytestOptions(args=["-s"]))
    assert result.status == "passed", result.evidence["output"]
    assert "DATABASE stageline_copy_" in result.evidence["output"]
    assert result.evidence["database"].startswith(f"a scratch copy of {live}")
    assert result.evidence["tripwire"]["message"] == ""
    assert live_names(postgres_server, live) == ["canary"]
    assert not (ctx.bundle / "tests" / "__pycache__").exists()


def test_suite_given_the_live_database_outright_is_not_run(
    make_context: MakeContext, postgres_server: PostgresServer, live: str
) -> None:
    ctx = context(make_context, postgres_server, live, {**VARS, "POSTGRES_DB": live})
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "failed"
    assert result.summary.startswith(
        f"the test suite would have reached the live database {live}, so it was not run"
    )
    assert 'POSTGRES_DB = "${postgres.database}"' in result.summary
    assert "output" not in result.evidence  # pytest never started
    assert live_names(postgres_server, live) == ["canary"]


def test_suite_reaching_the_live_database_on_its_own_fails(
    make_context: MakeContext, postgres_server: PostgresServer, live: str
) -> None:
    # TENANT is no database setting by its name: the suite runs, opens the live database
    # as the copy's role, is turned away, and the tripwire fails the gate
    ctx = context(make_context, postgres_server, live, {**VARS, "TENANT": live})
    (ctx.bundle / "tests" / "test_suite.py").write_text(
        SUITE.replace('os.environ["POSTGRES_DB"],', 'os.environ["TENANT"],', 1)
    )
    result = PytestGate().run(ctx, PytestOptions())
    assert result.status == "failed"
    assert result.summary.startswith(f"the test suite reached the live database {live}")
    assert "it likely read TENANT" in result.summary
    assert live_names(postgres_server, live) == ["canary"]


def test_live_database_is_an_explicit_reported_choice(
    make_context: MakeContext, postgres_server: PostgresServer, live: str
) -> None:
    ctx = context(make_context, postgres_server, live, VARS)
    result = PytestGate().run(ctx, PytestOptions(database="live", args=["-s"]))
    assert result.status == "passed", result.evidence["output"]
    assert result.summary.endswith("(against the live database (database = 'live'))")
    assert result.evidence["database"] == "against the live database (database = 'live')"
    assert f"DATABASE {live}" in result.evidence["output"]
    assert live_names(postgres_server, live) == ["canary", "from the suite"]


def test_copy_without_a_database_is_an_error(make_context: MakeContext) -> None:
    ctx = make_context()
    (ctx.bundle / "tests").mkdir(parents=True, exist_ok=True)
    result = PytestGate().run(ctx, PytestOptions(database="copy"))
    assert result.status == "error"
    assert result.summary == "database = 'copy': staging has no PostgreSQL database"
