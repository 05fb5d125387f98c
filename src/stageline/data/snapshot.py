"""Snapshots: plan, take, list, drop and restore anonymized copies of a database.

``take`` streams the source environment's database through the masking rules into a
new database on the holding environment's server (by default the environment before
the source: staging for production), keeps it as a template database, records it, and
keeps only the newest ``[data] keep`` of them. ``restore`` clones the newest snapshot
into an environment's own database (by ``CREATE DATABASE ... TEMPLATE``).
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from stageline.config.loader import find_pipeline_file
from stageline.config.model import Environment, Pipeline
from stageline.data.catalog import read_tables, sample_values, session_settings
from stageline.data.clone import clone_database
from stageline.data.copy import (
    Progress,
    connect,
    copy_database,
    create_database,
    drop_database,
    make_template,
    plan_for,
)
from stageline.data.draft import draft, merge
from stageline.data.fingerprints import fingerprint_path
from stageline.data.key import load_key
from stageline.data.plan import Plan
from stageline.data.suggest import suggest
from stageline.errors import Refused, UnknownName, UsageError
from stageline.identity import current_actor
from stageline.services.postgres import client_binaries
from stageline.state.snapshots import SnapshotRecord
from stageline.state.store import Store
from stageline.targets.backing import database_name
from stageline.usecases.pipeline import Session


def newest_snapshot(store: Store, environment: str) -> SnapshotRecord | None:
    """The newest kept snapshot held on ``environment``'s server, or None.

    Its ``name`` is the template database's name on that server.
    """
    kept = store.snapshots(environment)
    return kept[0] if kept else None


@dataclass(frozen=True)
class Taken:
    record: SnapshotRecord
    fingerprints: int
    passthrough: tuple[str, ...]
    dropped: tuple[str, ...]

    @property
    def mb_per_s(self) -> float:
        return self.record.bytes / 1e6 / max(self.record.duration, 1e-9)


@dataclass(frozen=True)
class Restored:
    environment: str
    database: str
    snapshot: SnapshotRecord
    seconds: float


def holder_for(pipe: Pipeline, source: str, into: str | None) -> Environment:
    """Where a snapshot of ``source`` goes: ``into``, else the environment before it."""
    src = pipe.environment(source)
    if into is not None:
        target = pipe.environment(into)
    else:
        before = pipe.before(src.name)
        if before is None:
            raise UsageError(
                f"{source} is the first environment; no environment comes before it",
                hint="name one with --into ENV",
            )
        target = before
    if target.name == src.name:
        raise UsageError("a snapshot cannot be kept on the environment it is taken from")
    if target.tier.value == "production":
        raise Refused(f"refusing to keep a snapshot on {target.name} (a production tier)")
    return target


def _admin(session: Session, env: Environment, database: str | None = "postgres") -> str:
    """The admin URL of ``env``'s server (started, and locked down, if need be), to
    ``database``; None means the environment's own database (the one its service uses)."""
    target = session.target(env, session.pipeline().service.name)
    facts = target.backing()
    if facts is None:
        raise UsageError(
            f"{env.name} has no PostgreSQL database",
            hint=f"declare [environments.{env.name}.services.postgres] in the pipeline file",
        )
    return target.admin_url(database or facts.database)


def plan(session: Session, source: str) -> Plan:
    """What each column of ``source``'s database gets under the pipeline's rules."""
    pipe = session.pipeline()
    env = pipe.environment(source)
    return plan_for(_admin(session, env, None), pipe.data)


@dataclass(frozen=True)
class Drafted:
    path: Path
    #: columns that got a drafted rule (0: the rules cover every column, nothing written)
    columns: int


#: rows sampled per table to suggest masks (their values are never written or shown)
SAMPLE_ROWS = 200


def draft_rules(
    session: Session, source: str, *, into: Path | None = None, force: bool = False
) -> Drafted:
    """Draft masking rules for the columns of ``source``'s database that the pipeline's
    rules leave unclassified, into ``into`` (default: the pipeline file).

    Refuses a file that has masking rules already unless ``force``; even then nothing
    written changes: drafted lines only cover columns no rule covers (see
    :mod:`stageline.data.draft`)."""
    pipe = session.pipeline()
    with connect(_admin(session, pipe.environment(source), None)) as conn:
        conn.read_only = True  # a production database: look, never touch
        session_settings(conn)
        tables = read_tables(conn)
        suggestions = {}
        for table in tables:
            samples = sample_values(conn, table, SAMPLE_ROWS)
            for column in table.columns:
                found = suggest(column, samples.get(column.name, []))
                suggestions[table.key, column.name] = found
    block = draft(tables, suggestions, pipe.data)
    pipeline_file = find_pipeline_file(session.workspace.root)
    path = (into or pipeline_file).resolve()
    if block.empty:
        return Drafted(path, 0)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    prefix = ("tool", "stageline") if path.name == "pyproject.toml" else ()
    if _has_rules(text, prefix) and not force:
        raise Refused(
            f"{path.name} has masking rules already; drafted rules for {block.columns} "
            "column(s) they leave unclassified were not written",
            hint="add them with --force (each a new line for a column no rule covers; "
            "nothing written changes), or write them elsewhere with --file PATH",
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    comment = (
        f"# Drafted by `stageline snapshot plan {source} --write` on {stamp} for "
        f"{block.columns} column(s):\n"
        "# review every line. Masks were suggested from column names, types and sampled\n"
        "# values; no value is written here.\n"
    )
    _replace(path, merge(text, block, prefix=prefix, comment=comment))
    if path == pipeline_file.resolve():
        session.reload()  # what follows (the plan) judges under the drafted rules
    return Drafted(path, block.columns)


def _has_rules(text: str, prefix: tuple[str, ...]) -> bool:
    """Whether the TOML ``text`` holds masking rules (tables, patterns, table defaults)."""
    node: Any = tomllib.loads(text) if text.strip() else {}
    for part in (*prefix, "data"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return any(node.get(k) for k in ("tables", "patterns", "table_defaults"))


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    partial = path.with_name(f".{path.name}.drafting")
    partial.write_text(text, encoding="utf-8")
    if path.exists():
        shutil.copymode(path, partial)
    os.replace(partial, path)


def take(
    session: Session, source: str, *, into: str | None = None, progress: Progress | None = None
) -> Taken:
    """Take a masked snapshot of ``source`` onto ``into``'s server (see module doc)."""
    pipe = session.pipeline()
    src_env = pipe.environment(source)
    holder = holder_for(pipe, source, into)
    home = session.workspace.home
    key = load_key(home, pipe.data)
    src = _admin(session, src_env, None)
    admin = _admin(session, holder)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    name = f"snap_{src_env.name.replace('-', '_')}_{stamp}"[:63]
    actor = current_actor()
    with session.store.lock(f"snapshot:{holder.name}", holder=actor):
        create_database(admin, name)
        try:
            result = copy_database(
                src,
                session.target(holder, pipe.service.name).admin_url(name),
                pipe.data,
                key,
                source_name=src_env.name,
                dump=client_binaries(src, _provider(src_env)),
                load=client_binaries(admin, _provider(holder)),
                progress=progress,
            )
            make_template(admin, name)
            result.fingerprints.write(fingerprint_path(home, name))
        except BaseException:
            drop_database(admin, name)
            shutil.rmtree(fingerprint_path(home, name).parent, ignore_errors=True)
            raise
        record = session.store.add_snapshot(
            name,
            source=src_env.name,
            environment=holder.name,
            rules_digest=pipe.data.digest,
            row_counts=result.row_counts,
            size=result.bytes,
            duration=result.duration,
            actor=actor,
        )
        session.store.append_event(
            "snapshot.taken",
            actor=actor,
            environment=holder.name,
            data={"snapshot": name, "source": src_env.name, "rows": record.rows},
        )
        older = session.store.snapshots(holder.name)[pipe.data.keep :]
        dropped = [drop(session, old.name).name for old in older]
    return Taken(record, len(result.fingerprints), result.passthrough, tuple(dropped))


def _provider(env: Environment) -> str | None:
    return env.postgres.provider if env.postgres else None


def list_snapshots(session: Session, environment: str | None = None) -> list[SnapshotRecord]:
    if environment is not None:
        session.pipeline().environment(environment)
    return session.store.snapshots(environment)


def drop(session: Session, name: str) -> SnapshotRecord:
    """Drop a kept snapshot's template database, its fingerprints and its record."""
    kept = {s.name: s for s in session.store.snapshots()}
    if name not in kept:
        raise UnknownName("snapshot", name, list(kept), hint="`stageline snapshot list`")
    record = kept[name]
    env = session.pipeline().environment(record.environment)
    drop_database(_admin(session, env), name)
    shutil.rmtree(fingerprint_path(session.workspace.home, name).parent, ignore_errors=True)
    session.store.mark_snapshot_dropped(name)
    session.store.append_event(
        "snapshot.dropped", actor=current_actor(), environment=env.name, data={"snapshot": name}
    )
    return record


def restore(session: Session, environment: str) -> Restored:
    """Replace ``environment``'s own database by a clone of its newest snapshot.

    Refuses while anything is connected to that database (stop the service first with
    ``stageline down ENV``): the old database is replaced only once the clone exists.
    """
    pipe = session.pipeline()
    env = pipe.environment(environment)
    if env.tier.value == "production":
        raise Refused(f"refusing to overwrite {env.name}'s database (a production tier)")
    snap = newest_snapshot(session.store, env.name)
    if snap is None:
        raise UsageError(
            f"no snapshot is kept on {env.name}",
            hint=f"`stageline snapshot take SOURCE --into {env.name}` makes one",
        )
    admin = _admin(session, env)
    assert env.postgres is not None
    database = database_name(env.postgres, pipe.service.name)
    with session.store.lock(f"snapshot:{env.name}", holder=current_actor()):
        with connect(admin, autocommit=True) as conn:
            users = _sessions(conn, database)
            if users:
                raise Refused(
                    f"{users} session(s) are connected to {env.name}'s database {database!r}",
                    hint=f"stop its service first (`stageline down {env.name}`), then restore",
                )
        fresh = f"{database}_restore"[:63]
        drop_database(admin, fresh)
        seconds = clone_database(admin, snap.name, fresh)
        with connect(admin, autocommit=True) as conn:
            if _sessions(conn, database):
                drop_database(admin, fresh)
                raise Refused(f"{env.name}'s database got connected during the restore")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(fresh), sql.Identifier(database)
                )
            )
    session.target(env, pipe.service.name).backing()  # the service owns it again
    session.store.append_event(
        "snapshot.restored",
        actor=current_actor(),
        environment=env.name,
        data={"snapshot": snap.name, "database": database, "seconds": round(seconds, 3)},
    )
    return Restored(env.name, database, snap, seconds)


def _sessions(conn: psycopg.Connection[Any], database: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchone()
    return int(row[0]) if row else 0
