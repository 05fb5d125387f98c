"""Benchmark: masked snapshot vs pg_dump | pg_restore, and restore-by-clone vs dump/restore.

Starts two PostgreSQL servers (the embedded provider's, as the example's environments
use; "production" and "staging"), generates a production-like database of about
``--size-mb`` MB on the first (users with e-mail, name, phone, a JSON profile; orders with
free-text notes; an all-``keep`` events table that takes the pass-through path), then
measures side by side on the same data:

1. the masked snapshot (schema, COPY through the masks, indexes and constraints after),
   with the C masks (``stageline._speedups``) and, unless ``--no-pure``, with the Python
   masks alone (``STAGELINE_PURE_PYTHON=1``),
2. ``pg_dump -Fc -Z0 | pg_restore`` of the same database into the second server,
3. the leak scan of the snapshot (the ``pii-scan`` gate's work), C and Python alone,
4. restoring the snapshot by cloning its template (CREATE DATABASE ... TEMPLATE) versus
   ``pg_dump | pg_restore`` of the snapshot into a new database on the same server, each
   cold (page cache dropped first, when run as root) and warm, all after a checkpoint
   and ``sync``, so none pays for flushing what the steps before it left dirty.

Run: ``.venv/bin/python bench/snapshot.py --size-mb 50`` (default 1024; ``--quick``: 5 MB, once).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _quick import parse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import psycopg  # noqa: E402

from stageline.data.clone import clone_database  # noqa: E402
from stageline.data.copy import (  # noqa: E402
    CopyResult,
    copy_database,
    create_database,
    drop_database,
    make_template,
)
from stageline.data.masking import MaskingKey, accelerated  # noqa: E402
from stageline.data.rules import DataRules  # noqa: E402
from stageline.data.scan import scan_database  # noqa: E402
from stageline.services.postgres import PostgresServer, find_binaries, free_port  # noqa: E402

SCHEMA = """
CREATE TABLE users (
    id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, full_name text NOT NULL,
    phone text, born date, last_ip inet, profile jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (
    id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id),
    customer_email text NOT NULL, total_cents integer NOT NULL, note text,
    created_at timestamptz NOT NULL);
CREATE INDEX orders_user ON orders (user_id);
CREATE TABLE events (
    id bigserial PRIMARY KEY, kind text NOT NULL, payload text NOT NULL,
    at timestamptz NOT NULL);
"""
USERS = """
INSERT INTO users (email, full_name, phone, born, last_ip, profile)
SELECT 'user' || i || '.' || substr(md5(i::text), 1, 10) || '@mail' || (i %% 97) || '.test',
       (ARRAY['Margarethe','Bartholomew','Perpetua','Evangelos','Rosalind'])[1 + i %% 5]
         || ' ' || initcap(substr(md5((i * 7)::text), 1, 9)),
       CASE WHEN i %% 5 > 0 THEN '+44 20 ' || lpad((i %% 100000000)::text, 8, '0') END,
       date '1950-01-01' + (i %% 20000)::int,
       ('10.' || (i / 65536) %% 256 || '.' || (i / 256) %% 256 || '.' || i %% 256)::inet,
       jsonb_build_object('email', 'user' || i || '@mail.test', 'phone', '+44 20 ' || i,
                          'bio', md5(i::text) || ' ' || md5((i + 1)::text),
                          'prefs', jsonb_build_object('newsletter', i %% 2 = 0))
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
"""
ORDERS = """
INSERT INTO orders (user_id, customer_email, total_cents, note, created_at)
SELECT u, (SELECT email FROM users WHERE id = u), 100 + i %% 10000,
       CASE WHEN i %% 3 = 0 THEN 'leave at door ' || md5(i::text) END,
       now() - (i %% 1000) * interval '1 hour'
FROM (SELECT i, 1 + (i * 7919) %% %(users)s::bigint AS u
      FROM generate_series(%(start)s::bigint, %(stop)s::bigint) i) s
"""
EVENTS = """
INSERT INTO events (kind, payload, at)
SELECT (ARRAY['view','cart','pay'])[1 + i %% 3], repeat(md5(i::text), 4),
       now() - i * interval '1 second'
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
"""
RULES = DataRules.model_validate(
    {
        "tables": {
            "users": {
                "id": "keep", "email": "email", "full_name": "name", "phone": "phone",
                "born": {"mask": "date", "days": 180}, "last_ip": "ip", "created_at": "keep",
                "profile": {"mask": "json", "keys": {"email": "email", "phone": "phone",
                                                     "bio": "text"}},
            },
            "orders": {
                "id": "keep", "user_id": "keep", "customer_email": "email",
                "total_cents": "keep", "note": "text", "created_at": "keep",
            },
            "events": {"id": "keep", "kind": "keep", "payload": "keep", "at": "keep"},
        }
    }
)  # fmt: skip


def server(folder: Path, name: str) -> PostgresServer:
    pg = PostgresServer(folder / name / "data", free_port(), find_binaries("embedded"))
    pg.init(durable=False)
    pg.start()
    return pg


def generate(url: str, size_mb: int, mix: tuple[int, int, int]) -> tuple[int, int]:
    """About ``size_mb`` MB, shared between users, orders and events by ``mix`` (%)."""
    users = max(1000, size_mb * 1_000_000 * mix[0] // 100 // 330)
    orders = max(1000, size_mb * 1_000_000 * mix[1] // 100 // 150)
    events = max(1000, size_mb * 1_000_000 * mix[2] // 100 // 180)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for sql, count in ((USERS, users), (ORDERS, orders), (EVENTS, events)):
            step = 200_000
            for start in range(1, count + 1, step):
                stop = min(count, start + step - 1)
                conn.execute(sql, {"start": start, "stop": stop, "users": users})
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return users + orders + events, int(size[0]) if size else 0


def dump_restore(binaries_dir: str, source_url: str, target_url: str) -> float:
    started = time.perf_counter()
    dump = subprocess.Popen(
        [f"{binaries_dir}/pg_dump", "-Fc", "-Z0", "--no-owner", "-d", source_url],
        stdout=subprocess.PIPE,
    )
    restore = subprocess.run(
        [f"{binaries_dir}/pg_restore", "--no-owner", "-d", target_url],
        stdin=dump.stdout,
        capture_output=True,
        check=False,
    )
    assert dump.stdout is not None
    dump.stdout.close()
    if dump.wait() != 0 or restore.returncode != 0:
        raise SystemExit(f"pg_dump | pg_restore failed: {restore.stderr.decode()[-500:]}")
    return time.perf_counter() - started


def settle(*servers: PostgresServer) -> None:
    """A checkpoint on each server and a ``sync``: what earlier steps left dirty is
    written out before the next measurement, not during it."""
    for pg in servers:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    os.sync()


def drop_caches() -> bool:
    """Empty the kernel's page cache (root only): the next reads come from the disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def _cpu() -> float:
    """CPU seconds of this process and its waited-for children (the copy workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument(
        "--mix",
        default="40,35,25",
        help="percent of the bytes in users,orders,events (events pass through unmasked); "
        "the default is PII-dense, 10,15,75 is closer to a typical service's database",
    )
    parser.add_argument(
        "--no-pure", action="store_true", help="skip the run with the Python masks alone"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="masked and plain copies, interleaved, and restores of each kind (medians)",
    )
    args = parse(parser, size_mb=5, repeat=1)
    folder = Path(tempfile.mkdtemp(prefix="stageline-bench-snap-"))
    os.chmod(folder, 0o755)
    servers: list[PostgresServer] = []
    try:
        prod, staging = server(folder, "production"), server(folder, "staging")
        servers += [prod, staging]
        binaries = prod.binaries
        bin_dir = str(binaries.bin_dir)
        print(f"PostgreSQL {binaries.major} ({bin_dir}); {os.cpu_count()} cores")
        prod.create_database("shop")
        started = time.perf_counter()
        mix = tuple(int(part) for part in args.mix.split(","))
        assert len(mix) == 3, "--mix takes three percentages"
        rows, size = generate(prod.url("shop"), args.size_mb, mix)  # type: ignore[arg-type]
        print(f"generated {rows:,} rows, {size / 1e6:.0f} MB on disk, in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip

        key = MaskingKey(b"bench-key-" * 4)

        def masked_copy(name: str) -> tuple[CopyResult, float, list[tuple[float, str]]]:
            create_database(staging.url(), name)
            settle(prod, staging)
            stages: list[tuple[float, str]] = []
            cpu_before = _cpu()
            result = copy_database(
                prod.url("shop"), staging.url(name), RULES, key, source_name="production",
                dump=binaries, load=binaries,
                progress=lambda stage: stages.append((time.perf_counter(), stage)),
            )  # fmt: skip
            stages.append((time.perf_counter(), "done"))
            return result, _cpu() - cpu_before, stages

        def plain_copy(name: str) -> float:
            staging.create_database(name)
            settle(prod, staging)
            seconds = dump_restore(bin_dir, prod.url("shop"), staging.url(name))
            drop_database(staging.url(), name)
            return seconds

        # Interleaved, and the medians compared: this shared VM's speed drifts by a
        # quarter within minutes, and the first run after generating is often slower.
        runs: list[tuple[CopyResult, float, list[tuple[float, str]]]] = []
        plains: list[float] = []
        for i in range(args.repeat):
            runs.append(masked_copy("snap" if i == 0 else f"snap{i}"))
            plains.append(plain_copy(f"plain{i}"))
            if i:
                drop_database(staging.url(), f"snap{i}")
        result = runs[0][0]
        masked_s = statistics.median(run[0].duration for run in runs)
        masked_cpu = statistics.median(run[1] for run in runs)
        plain_s = statistics.median(plains)
        copied = sum(result.row_counts.values())
        pure_s = pure_cpu = None
        if accelerated() and not args.no_pure:  # the same copy, the Python masks alone
            os.environ["STAGELINE_PURE_PYTHON"] = "1"
            try:
                pure, pure_cpu, _ = masked_copy("snap_pure")
            finally:
                del os.environ["STAGELINE_PURE_PYTHON"]
            pure_s = pure.duration
            assert pure.fingerprints.values == result.fingerprints.values
            drop_database(staging.url(), "snap_pure")

        # the leak scan of the snapshot (what the pii-scan gate does), C and Python alone
        started = time.perf_counter()
        scan = scan_database(staging.url("snap"), key, result.fingerprints)
        scan_s = time.perf_counter() - started
        assert not scan.findings, scan.findings  # a clean snapshot
        scan_pure_s = None
        if accelerated() and not args.no_pure:
            os.environ["STAGELINE_PURE_PYTHON"] = "1"
            try:
                started = time.perf_counter()
                scan_pure = scan_database(staging.url("snap"), key, result.fingerprints)
                scan_pure_s = time.perf_counter() - started
            finally:
                del os.environ["STAGELINE_PURE_PYTHON"]
            assert scan_pure == scan

        started = time.perf_counter()
        make_template(staging.url(), "snap")  # as `snapshot take` does: with a checkpoint
        template_s = time.perf_counter() - started
        # Both restores start from the same state: nothing left for PostgreSQL or the
        # kernel to flush (the plain copy above left 1 GB of dirty pages behind, which
        # would otherwise be written out during whichever restore came first).
        # Cold: nothing of the snapshot in the page cache, as for a restore long after
        # the take (this machine's kernel also reclaims idle cache pages on its own).
        # Warm: the snapshot's files were just read. Both methods measured both ways.
        colds, dropped = [], False
        for i in range(args.repeat):  # the disk behind a VM answers unevenly: a median
            settle(staging)
            dropped = drop_caches()
            colds.append(clone_database(staging.url(), "snap", f"restored_cold{i}"))
            drop_database(staging.url(), f"restored_cold{i}")
        clone_cold = statistics.median(colds)
        clones = []
        for i in range(args.repeat):
            clones.append(clone_database(staging.url(), "snap", f"restored_clone{i}"))
            drop_database(staging.url(), f"restored_clone{i}")
        clone_warm = statistics.median(clones)
        with psycopg.connect(staging.url(), autocommit=True) as conn:  # dump needs connections
            conn.execute("ALTER DATABASE snap WITH ALLOW_CONNECTIONS true")
        redumps = []
        for i, cold in enumerate((True, False)):
            staging.create_database(f"restored_dump{i}")
            settle(staging)
            if cold:
                drop_caches()
            redumps.append(
                dump_restore(bin_dir, staging.url("snap"), staging.url(f"restored_dump{i}"))
            )
        redump_cold, redump_warm = redumps

        mb = size / 1e6
        print()
        print(f"{'':34}{'seconds':>9}{'MB/s':>9}{'rows/s':>12}")
        label = "masked snapshot (C masks)" if accelerated() else "masked snapshot (Python)"
        print(f"{label:34}{masked_s:9.2f}{mb / masked_s:9.1f}{copied / masked_s:12,.0f}")
        if pure_s is not None:
            print(f"{'masked snapshot (Python alone)':34}{pure_s:9.2f}{mb / pure_s:9.1f}"
                  f"{copied / pure_s:12,.0f}")  # fmt: skip
        print(f"{'pg_dump -Fc -Z0 | pg_restore':34}{plain_s:9.2f}{mb / plain_s:9.1f}"
              f"{rows / plain_s:12,.0f}")  # fmt: skip
        print(f"  (COPY stream {result.bytes / 1e6:.0f} MB: "
              f"{result.bytes / 1e6 / masked_s:.1f} MB/s through the masks; "
              f"{len(result.fingerprints):,} fingerprints)")  # fmt: skip
        print(f"  (stageline's own processes used {masked_cpu:.2f}s of CPU: "
              f"{result.bytes / 1e6 / masked_cpu:.1f} MB/s per core; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
        for _, _, stages in runs:
            print("  (phases: " + ", ".join(
                f"{stage} {stages[i + 1][0] - at:.1f}s" for i, (at, stage) in enumerate(stages[:-1])
            ) + ")")  # fmt: skip
        print(f"  (medians of {len(runs)} runs each, interleaved: masked "
              + ", ".join(f"{run[0].duration:.2f}" for run in runs) + "; plain "
              + ", ".join(f"{p:.2f}" for p in plains) + ")")  # fmt: skip
        print(f"masked / plain: {masked_s / plain_s:.2f}x the time (aim <= 1.5x; run by run "
              + ", ".join(f"{run[0].duration / p:.2f}" for run, p in zip(runs, plains, strict=True))
              + ")")  # fmt: skip
        if pure_s is not None and pure_cpu is not None:
            print(f"  (with the Python masks alone: {pure_s / plain_s:.2f}x, {pure_cpu:.2f}s CPU;"
                  f" the C masks make it {pure_s / masked_s:.1f}x faster)")  # fmt: skip
        print(f"leak scan of the snapshot: {scan.values:,} values in {scan_s:.2f}s "
              f"({scan.values / scan_s:,.0f} values/s), nothing found"
              + (f"; the Python alone {scan_pure_s:.2f}s ({scan_pure_s / scan_s:.1f}x)"
                 if scan_pure_s else ""))  # fmt: skip
        print()
        print(f"(making the template, with its checkpoint, took {template_s:.2f}s)")
        if not dropped:
            print("(could not drop the page cache (not root): the cold rows are warm too)")
        print(f"{'':34}{'cold':>9}{'warm':>9}")
        print(f"{'restore by clone (FILE_COPY)':34}{clone_cold:9.2f}{clone_warm:9.2f}"
              "   (medians of " + ", ".join(f"{c:.2f}" for c in colds) + " and "
              + ", ".join(f"{c:.2f}" for c in clones) + ")")  # fmt: skip
        print(f"{'restore by pg_dump | pg_restore':34}{redump_cold:9.2f}{redump_warm:9.2f}")
        print(f"clone is {redump_cold / clone_cold:.1f}x faster cold, "
              f"{redump_warm / clone_warm:.1f}x warm (aim >= 10x)")  # fmt: skip
    finally:
        for pg in servers:
            pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
