"""The corpus of schema changes, judged under the gate's defaults.

Every ``corpus/changes/<case>/`` holds ``up.sql``, ``down.sql`` and ``truth.toml``:
``kind`` ("dangerous": blocks writes for minutes at production's size; "safe": its
zero-downtime rewrite, or a change that is harmless; "neutral": judged by other rules),
``passed`` (the verdict under ``MigrationsOptions()`` defaults), ``locks`` (the strongest
lock the migration took per table, as "table:Mode"), ``rewrites``, ``created``,
``dropped``, ``renamed``, ``fails`` (failing checks by table) and ``safe`` (the case that
is its zero-downtime rewrite). The data is small; production's sizes are given as facts
(``PRODUCTION``), so the projections are those of a 38 GB table. One seeded source for the
module; each case rehearses on its own template copy.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from stageline.gates.migrations import MigrationsOptions
from stageline.rehearsal.attribution import strength
from stageline.rehearsal.judge import judge
from stageline.rehearsal.run import Plan, rehearse
from stageline.rehearsal.tools import SqlFiles, local_runner
from stageline.services.postgres import PostgresServer

from .conftest import CORPUS

CHANGES = CORPUS / "changes"
CASES = sorted(p.name for p in CHANGES.iterdir() if (p / "truth.toml").is_file())
PRODUCTION = {"orders": 38 * 1024**3, "customers": 2 * 1024**3, "audit_log": 5 * 1024**2}
DEFAULTS = MigrationsOptions().budgets()


@pytest.fixture(scope="module")
def source(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"changes_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    try:
        with psycopg.connect(postgres_server.url(name), autocommit=True) as conn:
            conn.execute((CHANGES / "seed.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        yield name
    finally:
        postgres_server.drop_database(name)


def truth_of(case: str) -> dict[str, Any]:
    return tomllib.loads((CHANGES / case / "truth.toml").read_text(encoding="utf-8"))


def test_the_corpus_covers_every_kind_with_its_safe_rewrite() -> None:
    truths = {case: truth_of(case) for case in CASES}
    assert len(CASES) >= 30
    dangerous = [c for c, t in truths.items() if t["kind"] == "dangerous"]
    assert all(not truths[c]["passed"] for c in dangerous)
    for case in dangerous:
        safe = truths[case].get("safe")
        if safe is not None:  # VACUUM FULL has none in SQL (pg_repack)
            assert truths[safe]["kind"] == "safe" and truths[safe]["passed"], case


@pytest.mark.parametrize("case", CASES)
def test_change_is_judged_under_defaults(
    postgres_server: PostgresServer, source: str, case: str
) -> None:
    truth = truth_of(case)
    folder = CHANGES / case
    migrator = SqlFiles(
        run=local_runner(), cwd=folder, env={}, psql=postgres_server.binaries.program("psql"),
        upgrade_files=["up.sql"], downgrade_files=["down.sql"],
        single_transaction=truth.get("single_transaction", True),
    )  # fmt: skip
    plan = Plan(
        admin_url=postgres_server.url("postgres"), source=source, method="template",
        migrator=migrator, budgets=DEFAULTS, production_sizes=PRODUCTION, max_probed_tables=3,
    )  # fmt: skip
    facts = rehearse(plan)
    verdict = judge(facts, DEFAULTS)
    trace = facts.trace
    assert [s.ok for s in facts.steps] == [True, True, True], [s.output for s in facts.steps]
    assert trace.logged, facts.notes
    failing = {f"{f.check}:{f.table}" if f.table else f.check for f in verdict.failures}
    assert verdict.passed is truth["passed"], [f.message for f in verdict.findings]
    assert set(truth.get("fails", [])) <= failing, failing
    assert set(trace.rewrites) == set(truth.get("rewrites", [])), trace.rewrites
    assert trace.created == truth.get("created", [])
    assert trace.dropped == truth.get("dropped", [])
    assert trace.renamed == truth.get("renamed", {})
    strongest: dict[str, str] = {}
    for span in trace.locks:
        if span.granted and span.kind == "table":
            now = strongest.get(span.relation, "")
            strongest[span.relation] = max(now, span.mode, key=strength)
    for expected in truth.get("locks", []):
        table, mode = expected.split(":")
        assert strongest.get(table) == mode, (expected, strongest)
    if truth["kind"] == "dangerous":
        blocking = [f for f in verdict.failures if f.check == "blocking"]
        assert blocking and all("Safe: " in f.message for f in blocking), blocking
        assert all("at production's" in f.message for f in blocking), blocking
