"""Benchmark: what the migration rehearsal measures, and what measuring costs.

On a throwaway PostgreSQL (the embedded provider) with one table of about ``--size-mb``
MB, it rehearses a blocking migration (``CREATE INDEX``) and its safe variant
(``CREATE INDEX CONCURRENTLY``) and prints the stall each caused to reads and writes of
that table, side by side. Then it times the blocking migration alone on fresh copies,
with and without the tracer sampling every 10 ms, alternating, and prints the medians
and their ratio (the tracer's overhead on the migration's own time). Last, the
**overhead split** of a whole rehearsal (clone, checksums, migration, downgrade, the
rest), before (``checksums = "full"``: every table in full, one after the other, the
earlier way) and after (only what the migration touched, in full, in parallel; the
rest counted and sampled), on the same database, alternating.

Run: ``.venv/bin/python bench/rehearsal.py --size-mb 300`` (default 300; use 20 for a
quick check, ``--quick`` for the smallest).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402

from stageline.data.clone import clone_database  # noqa: E402
from stageline.rehearsal.facts import Budgets  # noqa: E402
from stageline.rehearsal.judge import judge  # noqa: E402
from stageline.rehearsal.run import Plan, rehearse  # noqa: E402
from stageline.rehearsal.tools import SqlFiles, local_runner  # noqa: E402
from stageline.rehearsal.tracer import APPLICATION, Tracer  # noqa: E402
from stageline.services.postgres import PostgresServer, find_binaries, free_port  # noqa: E402

ROW_BYTES = 140  # a row of the table below, on disk, roughly
BLOCKING = "CREATE INDEX ix_events_account ON events (account_id, happened_at);\n"
SAFE = "CREATE INDEX CONCURRENTLY ix_events_account ON events (account_id, happened_at);\n"
DOWN = "DROP INDEX ix_events_account;\n"


def seed(url: str, size_mb: int) -> tuple[int, int]:
    rows = size_mb * 1024 * 1024 // ROW_BYTES
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL, "
            "happened_at timestamptz NOT NULL, payload text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO events SELECT i, (i::bigint * 7919) %% 100000, "
            "'2026-01-01'::timestamptz + i * interval '1 second', "
            "repeat(md5(i::text), 2) FROM generate_series(1, %s) i",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE events")
        size = conn.execute("SELECT pg_relation_size('events')").fetchone()
    assert size is not None
    return rows, int(size[0])


def rehearse_sql(
    server: PostgresServer, source: str, folder: Path, up: str, single: bool
) -> tuple[float, float, float, float]:
    (folder / "up.sql").write_text(up)
    (folder / "down.sql").write_text(DOWN)
    migrator = SqlFiles(
        run=local_runner(), cwd=folder, env={}, psql=server.binaries.program("psql"),
        upgrade_files=["up.sql"], downgrade_files=["down.sql"], single_transaction=single,
    )  # fmt: skip
    plan = Plan(
        admin_url=server.url("postgres"), source=source, method="template", migrator=migrator,
    )  # fmt: skip
    started = time.monotonic()
    facts = rehearse(plan)
    verdict = judge(facts, Budgets())
    stall = next(s for s in verdict.stalls if s.table == "events")
    trace = facts.trace
    print(f"    ({trace.samples} tracer samples in {facts.upgrade_ms:.0f} ms, "
          f"worst gap {trace.worst_gap_ms:.0f} ms)")  # fmt: skip
    return stall.read_ms, stall.write_ms, facts.upgrade_ms, time.monotonic() - started


def split(server: PostgresServer, source: str, folder: Path, mode: str) -> dict[str, float]:
    """One rehearsal of the blocking migration: seconds per part, "total" and "overhead"
    (everything but the migration itself)."""
    (folder / "up.sql").write_text(BLOCKING)
    (folder / "down.sql").write_text(DOWN)
    migrator = SqlFiles(
        run=local_runner(), cwd=folder, env={}, psql=server.binaries.program("psql"),
        upgrade_files=["up.sql"], downgrade_files=["down.sql"],
    )  # fmt: skip
    plan = Plan(
        admin_url=server.url("postgres"), source=source, method="template", migrator=migrator,
        checksums="full" if mode == "before" else "touched",
    )  # fmt: skip
    started = time.monotonic()
    facts = rehearse(plan)
    parts = dict(facts.timings)
    parts["total"] = time.monotonic() - started
    parts["overhead"] = parts["total"] - parts.get("migration", 0.0)
    return parts


def timed_migration(server: PostgresServer, source: str, traced: bool) -> float:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    clone_database(server.url("postgres"), source, name)
    url = server.url(name)
    try:
        tracer = Tracer(url) if traced else None
        started = time.monotonic()
        if tracer is not None:
            tracer.start(started)
        subprocess.run(
            [server.binaries.program("psql"), "-X", "-q", "-d", url, "-c", BLOCKING],
            check=True, env={"PGAPPNAME": APPLICATION, "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        seconds = time.monotonic() - started
        if tracer is not None:
            tracer.stop()
        return seconds
    finally:
        server.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=300, help="table size in MB")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per variant")
    args = parse(parser, size_mb=5, repeat=1)
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-rehearsal-"))
    binaries = find_binaries("embedded", None)
    server = PostgresServer(folder / "data", free_port(), binaries)
    server.init(durable=False)
    server.start()
    try:
        server.create_database("source")
        started = time.monotonic()
        rows, size = seed(server.url("source"), args.size_mb)
        print(f"table events: {rows} rows, {size / 1024**2:.0f} MB "
              f"(seeded in {time.monotonic() - started:.1f}s)")  # fmt: skip
        work = folder / "sql"
        work.mkdir()
        print("\nstall of the migration on reads and writes of events (rehearsed):")
        print(f"  {'migration':<28} {'reads ms':>9} {'writes ms':>10} {'upgrade ms':>11} "
              f"{'rehearsal s':>12}")  # fmt: skip
        results = {}
        for label, up, single in (
            ("CREATE INDEX", BLOCKING, True),
            ("CREATE INDEX CONCURRENTLY", SAFE, False),
        ):
            read, write, upgrade, total = rehearse_sql(server, "source", work, up, single)
            results[label] = write
            print(f"  {label:<28} {read:9.0f} {write:10.0f} {upgrade:11.0f} {total:12.1f}")
        blocking, safe = results["CREATE INDEX"], results["CREATE INDEX CONCURRENTLY"]
        print(
            f"  writes stalled {blocking:.0f} ms vs {safe:.0f} ms"
            + (f" ({blocking / safe:.0f}x)" if safe > 0 else " (the safe variant: none)")
        )
        print(f"\ntracer overhead on the migration's own time ({args.repeat} runs each, "
              "alternating):")  # fmt: skip
        plain: list[float] = []
        traced: list[float] = []
        for _ in range(args.repeat):
            plain.append(timed_migration(server, "source", traced=False))
            traced.append(timed_migration(server, "source", traced=True))
        a, b = statistics.median(plain), statistics.median(traced)
        runs_a = ", ".join(f"{x * 1000:.0f}" for x in plain)
        runs_b = ", ".join(f"{x * 1000:.0f}" for x in traced)
        print(f"  without tracer: median {a * 1000:.0f} ms  ({runs_a})")
        print(f"  with tracer:    median {b * 1000:.0f} ms  ({runs_b})")
        print(f"  ratio: {b / a:.3f} ({(b / a - 1) * 100:+.1f}%)")
        print(f"\noverhead split of a whole rehearsal ({args.repeat} runs each, alternating; "
              "medians, seconds):")  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(split(server, "source", work, mode))
        names = ["clone", "checksums", "migration", "downgrade", "overhead", "total"]
        print(f"  {'':<8}" + "".join(f"{name:>11}" for name in names))
        for mode, results in runs.items():
            medians = [statistics.median(r.get(name, 0.0) for r in results) for name in names]
            print(f"  {mode:<8}" + "".join(f"{value:11.2f}" for value in medians))
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
