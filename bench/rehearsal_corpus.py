"""Benchmark: the rehearsal against squawk on the corpus of schema changes.

Runs every case of ``tests/rehearsal/corpus/changes`` (see ``test_corpus_changes.py``)
through the rehearsal under the gate's defaults, on a throwaway PostgreSQL with the
corpus seed and production's sizes given as facts, and through ``squawk`` (the
``squawk-cli`` package: ``.venv/bin/python -m pip install squawk-cli``) twice: with its
defaults, and with its hygiene rules left out (``lock_timeout`` / ``statement_timeout`` /
``IF NOT EXISTS`` / type preferences), which flag nearly every statement. Prints per case
who flagged what, then for each: dangerous changes caught, safe ones passed, false
alarms. "neutral" cases (renames, drops: judged by other rules) are listed apart.

Run: ``.venv/bin/python bench/rehearsal_corpus.py`` (``--quick``: four cases; without
squawk installed, its columns say so).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402
from _quick import parse  # noqa: E402

from stageline.gates.migrations import MigrationsOptions  # noqa: E402
from stageline.rehearsal.judge import judge  # noqa: E402
from stageline.rehearsal.run import Plan, rehearse  # noqa: E402
from stageline.rehearsal.tools import SqlFiles, local_runner  # noqa: E402
from stageline.services.postgres import PostgresServer, find_binaries, free_port  # noqa: E402

CHANGES = ROOT / "tests" / "rehearsal" / "corpus" / "changes"
PRODUCTION = {"orders": 38 * 1024**3, "customers": 2 * 1024**3, "audit_log": 5 * 1024**2}
HYGIENE = [
    "prefer-robust-stmts", "require-lock-timeout", "require-statement-timeout",
    "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity",
    "prefer-text-field", "prefer-timestamptz",
]  # fmt: skip


QUICK = [
    "add_foreign_key",
    "add_foreign_key_not_valid",
    "create_index",
    "create_index_concurrently",
]
SQUAWK = Path(sys.executable).parent / "squawk"


def squawk(path: Path, exclude: list[str]) -> list[str]:
    """The rules squawk reports for ``path`` (empty: it passes)."""
    program = SQUAWK
    argv = [str(program), "--reporter", "json", "--pg-version", "16", str(path)]
    if exclude:
        argv.append("--exclude=" + ",".join(exclude))
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    found = json.loads(result.stdout or "[]")
    return sorted({str(item["rule_name"]) for item in found})


def rehearsed(server: PostgresServer, source: str, case: str, truth: dict[str, object]) -> bool:
    budgets = MigrationsOptions().budgets()
    migrator = SqlFiles(
        run=local_runner(), cwd=CHANGES / case, env={}, psql=server.binaries.program("psql"),
        upgrade_files=["up.sql"], downgrade_files=["down.sql"],
        single_transaction=bool(truth.get("single_transaction", True)),
    )  # fmt: skip
    plan = Plan(
        admin_url=server.url("postgres"), source=source, method="template", migrator=migrator,
        budgets=budgets, production_sizes=PRODUCTION, max_probed_tables=3,
    )  # fmt: skip
    return judge(rehearse(plan), budgets).passed


def score(rows: list[tuple[str, str, bool]]) -> str:
    """ "caught x/n dangerous, passed y/m safe, z false alarms" for (case, kind, flagged)."""
    dangerous = [flagged for _, kind, flagged in rows if kind == "dangerous"]
    safe = [flagged for _, kind, flagged in rows if kind == "safe"]
    return (
        f"caught {sum(dangerous)}/{len(dangerous)} dangerous, passed "
        f"{len(safe) - sum(safe)}/{len(safe)} safe, {sum(safe)} false alarms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=0, help="only this many cases (0: all)")
    args = parse(parser, cases=len(QUICK))
    cases = sorted(p.name for p in CHANGES.iterdir() if (p / "truth.toml").is_file())
    if args.cases:
        cases = [c for c in cases if c in QUICK] if args.cases == len(QUICK) else cases
        cases = cases[: args.cases]
    has_squawk = SQUAWK.is_file()
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-corpus-"))
    server = PostgresServer(folder / "data", free_port(), find_binaries("embedded", None))
    server.init(durable=False)
    server.start()
    ours: list[tuple[str, str, bool]] = []
    plain: list[tuple[str, str, bool]] = []
    lock_only: list[tuple[str, str, bool]] = []
    try:
        server.create_database("source")
        with psycopg.connect(server.url("source"), autocommit=True) as conn:
            conn.execute((CHANGES / "seed.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        print(f"{'case':<36} {'kind':<10} {'stageline':<10} {'squawk':<8} squawk (lock rules)")
        for case in cases:
            truth = tomllib.loads((CHANGES / case / "truth.toml").read_text(encoding="utf-8"))
            kind = str(truth["kind"])
            failed = not rehearsed(server, "source", case, truth)
            every = squawk(CHANGES / case / "up.sql", []) if has_squawk else []
            locks = squawk(CHANGES / case / "up.sql", HYGIENE) if has_squawk else []
            ours.append((case, kind, failed))
            plain.append((case, kind, bool(every)))
            lock_only.append((case, kind, bool(locks)))
            mark = {True: "FLAG", False: "pass"}
            print(f"{case:<36} {kind:<10} {mark[failed]:<10} {mark[bool(every)]:<8} "
                  f"{mark[bool(locks)]} {' '.join(locks)}")  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print(f"stageline (defaults):         {score(ours)}")
    if has_squawk:
        print(f"squawk (defaults):            {score(plain)}")
        print(f"squawk (without hygiene):     {score(lock_only)}")
    else:
        print("squawk: not installed (.venv/bin/python -m pip install squawk-cli)")
    neutral = [c for c, kind, _ in ours if kind == "neutral"]
    print(f"neutral cases (renames, drops; judged by other rules): {', '.join(neutral)}")


if __name__ == "__main__":
    main()
