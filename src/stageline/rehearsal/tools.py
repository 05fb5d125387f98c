"""Migration tools as the rehearsal drives them: Alembic, and plain SQL files.

A ``Migrator`` knows where a database stands (``current``), brings it to the candidate's
head (``upgrade``) and back to a revision (``downgrade``). It runs the tool's own
commands through ``Runner`` (the gate passes ``GateContext.run_process``, so the
candidate's virtualenv and bundle are used and nothing outlives the deadline), with
``DATABASE_URL`` set to the scratch database and ``PGAPPNAME`` set so the tracer can
tell the migrating session from everyone else.

- ``alembic``: ``alembic upgrade head`` / ``alembic downgrade {revision}`` (configurable;
  ``alembic -c PATH ...`` for an ``alembic.ini`` elsewhere); the revision is read from
  ``alembic_version`` (``base`` when there is none). Alembic runs a whole upgrade in one
  transaction on PostgreSQL, so a failed upgrade leaves the database where it was.
- ``flask-migrate``: Alembic driven by ``flask --app APP db upgrade`` / ``db downgrade
  {revision}`` (``--directory`` when its folder is not ``migrations``); same revision.
- ``command``: the service's own commands: ``upgrade``, ``downgrade`` (``{revision}``)
  and ``current`` (prints the revision as its last line; nothing printed: ``none``).
- ``django``: ``python manage.py migrate``; its revision is a target per app read from
  ``django_migrations``, and the downgrade migrates each app back to its target. Django
  commits each migration on its own, so a failed upgrade can stop half-way.
- ``sql``: files of the bundle applied by ``psql`` in order, each in one transaction
  (unless ``single_transaction`` is off); the revisions are ``before`` and ``after``.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg

from stageline.errors import UsageError
from stageline.gates.base import ProcessOutcome, tail
from stageline.rehearsal.facts import StepOutcome
from stageline.rehearsal.tracer import APPLICATION
from stageline.services.postgres import client_connection

Runner = Callable[[Sequence[str], Path, Mapping[str, str]], ProcessOutcome]


class Migrator(Protocol):
    """One migration tool, pointed at one database."""

    name: str
    #: the revision of a database the tool never ran on
    initial: str
    #: whether ``current`` reads the database (False: the migrator only remembers)
    reads_revision: bool

    def current(self, url: str) -> str:
        """The revision the database at ``url`` is at (``initial`` when none)."""
        ...

    def upgrade(self, url: str, label: str) -> StepOutcome: ...

    def downgrade(self, url: str, revision: str, label: str) -> StepOutcome: ...


def _env(base: Mapping[str, str], url: str) -> dict[str, str]:
    return {**base, "DATABASE_URL": url, "PGAPPNAME": APPLICATION}


_STEP = re.compile(r"Running (?:upgrade|downgrade) ([\w, ()-]*?) -> ([\w, ()-]*)")


def last_step(output: str) -> str:
    """The last "Running upgrade/downgrade A -> B" Alembic reported, as "A -> B"."""
    found = _STEP.findall(output)
    if not found:
        return ""
    old, new = found[-1]
    return f"{old.strip() or 'base'} -> {new.strip() or 'base'}"


@dataclass
class Alembic:
    run: Runner
    cwd: Path
    env: Mapping[str, str]
    upgrade_command: str = "alembic upgrade head"
    downgrade_command: str = "alembic downgrade {revision}"
    #: a folder to look for the tool's program in first (the release's virtualenv bin/)
    bin_dir: Path | None = None
    name: str = "alembic"
    initial: str = "base"
    reads_revision: bool = True

    def current(self, url: str) -> str:
        with psycopg.connect(url, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
            if exists is None or exists[0] is None:
                return "base"
            rows = conn.execute("SELECT version_num FROM alembic_version ORDER BY 1").fetchall()
        return ",".join(str(r[0]) for r in rows) or "base"

    def _argv(self, command: str) -> list[str]:
        argv = shlex.split(command)
        if argv and self.bin_dir is not None and (self.bin_dir / argv[0]).is_file():
            argv[0] = str(self.bin_dir / argv[0])
        return argv

    def _step(self, label: str, command: str, url: str) -> StepOutcome:
        argv = self._argv(command)
        started = time.monotonic()
        outcome = self.run(argv, self.cwd, _env(self.env, url))
        seconds = time.monotonic() - started
        ok = outcome.returncode == 0
        reached = self.current(url)
        return StepOutcome(
            label, ok, round(seconds, 3), tail(outcome.output, 60), command,
            last_step(outcome.output), reached,
        )  # fmt: skip

    def upgrade(self, url: str, label: str) -> StepOutcome:
        return self._step(label, self.upgrade_command, url)

    def downgrade(self, url: str, revision: str, label: str) -> StepOutcome:
        return self._step(label, self.downgrade_command.format(revision=revision), url)


@dataclass
class SqlFiles:
    """Plain SQL: ``upgrade`` files then, to roll back, ``downgrade`` files (bundle paths)."""

    run: Runner
    cwd: Path
    env: Mapping[str, str]
    psql: str
    upgrade_files: list[str] = field(default_factory=list)
    downgrade_files: list[str] = field(default_factory=list)
    #: False for statements that refuse a transaction (CREATE INDEX CONCURRENTLY)
    single_transaction: bool = True
    name: str = "sql"
    initial: str = "before"
    reads_revision: bool = False
    _at: dict[str, str] = field(default_factory=dict)

    def current(self, url: str) -> str:
        return self._at.get(url, "before")

    def _apply(self, label: str, files: list[str], url: str, reached: str) -> StepOutcome:
        started = time.monotonic()
        outputs: list[str] = []
        for index, path in enumerate(files):
            argv = [self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
            argv += ["--single-transaction"] if self.single_transaction else []
            conninfo, password = client_connection(url)  # the password never on argv
            argv += ["-d", conninfo, "-f", path]
            outcome = self.run(argv, self.cwd, {**_env(self.env, url), **password})
            outputs.append(outcome.output)
            if outcome.returncode != 0:
                return StepOutcome(
                    label, False, round(time.monotonic() - started, 3),
                    tail("\n".join(outputs), 60), " ".join(files), path,
                    self._at.get(url, "before") if index == 0 else f"partly ({path} failed)",
                )  # fmt: skip
        self._at[url] = reached
        return StepOutcome(
            label, True, round(time.monotonic() - started, 3), tail("\n".join(outputs), 60),
            " ".join(files), files[-1] if files else "", reached,
        )  # fmt: skip

    def upgrade(self, url: str, label: str) -> StepOutcome:
        return self._apply(label, self.upgrade_files, url, "after")

    def downgrade(self, url: str, revision: str, label: str) -> StepOutcome:
        if not self.downgrade_files:
            return StepOutcome(label, False, 0.0, "no downgrade files declared", "", "", "after")
        return self._apply(label, self.downgrade_files, url, revision)


def applied(output: str) -> list[str]:
    """The revisions a step's output says it reached, in order: Alembic's "Running
    upgrade A -> B" (B), Django's "Applying app.name..." (``app:name``)."""
    # "Running upgrade A -> B, message": B is the first word after the arrow
    found = [new.strip(" (").split(",")[0].strip() for _old, new in _STEP.findall(output)]
    found = [revision for revision in found if revision]
    found += [name.replace(".", ":", 1) for verb, name in _DJANGO_STEP.findall(output)
              if verb == "Applying"]  # fmt: skip
    return found


def with_floor(target: str, floor: str) -> str:
    """The rollback target when ``floor`` overrides production's ``target``: a whole
    revision replaces it; Django's ``app:migration`` parts replace only their apps."""
    if ":" not in floor:
        return floor
    parts = dict(p.split(":", 1) for p in target.split(",") if ":" in p)
    parts.update(dict(p.split(":", 1) for p in floor.split(",") if ":" in p))
    return ",".join(f"{app}:{name}" for app, name in sorted(parts.items()))


def local_runner(extra_env: Mapping[str, str] | None = None) -> Runner:
    """A ``Runner`` for use outside a gate (tests, the bench): plain subprocesses."""
    import subprocess

    def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessOutcome:
        proc = subprocess.run(
            list(argv), cwd=cwd, env={**env, **(extra_env or {})},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            check=False,
        )  # fmt: skip
        return ProcessOutcome(proc.returncode, proc.stdout.decode("utf-8", errors="replace"))

    return run


def production_revision(migrator: Migrator, url: str | None) -> tuple[str, str]:
    """(revision, note): what production runs, read from its database; the tool's
    ``initial`` revision when it has no database or no revision yet."""
    base = migrator.initial
    if url is None:
        return base, f"production has no database: its revision is taken as {base}"
    if isinstance(migrator, Command):  # its `current` is release code: never on live data
        return base, (
            f"production's revision is not read: `{migrator.current_command}` is the release's "
            "own code and would run against production's database; the upgrade is rehearsed "
            "from an empty database (set floor = ... to rehearse a rollback)"
        )
    try:
        return migrator.current(url), ""
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return base, f"production's database is unreachable ({first}): revision taken as {base}"


def table_sizes(url: str | None) -> dict[str, int]:
    """Bytes of every user table's main fork at ``url`` (empty when unreachable)."""
    if url is None:
        return {}
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            rows: list[Any] = conn.execute(
                """SELECT CASE WHEN schemaname = 'public' THEN relname
                               ELSE schemaname || '.' || relname END,
                          pg_relation_size(relid)
                   FROM pg_stat_user_tables"""
            ).fetchall()
    except psycopg.Error:
        return {}
    return {str(name): int(size) for name, size in rows}


_DJANGO_STEP = re.compile(r"(Applying|Unapplying) ([\w.]+)\.\.\.")


def django_step(output: str) -> str:
    """The last migration Django started applying or unapplying ("shop.0003_fill")."""
    found = _DJANGO_STEP.findall(output)
    return found[-1][1] if found else ""


@dataclass
class Django:
    """Django's ``migrate``. Django commits each migration on its own, so a failed
    upgrade can leave the database half-migrated: ``reached`` says where. Its revision
    is a target per app, ``app:migration`` joined by commas (``zero`` for none)."""

    run: Runner
    cwd: Path
    env: Mapping[str, str]
    upgrade_command: str = "python manage.py migrate --noinput"
    downgrade_command: str = "python manage.py migrate {app} {migration} --noinput"
    bin_dir: Path | None = None
    name: str = "django"
    initial: str = "zero"
    reads_revision: bool = True

    def current(self, url: str) -> str:
        with psycopg.connect(url, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('django_migrations')").fetchone()
            if exists is None or exists[0] is None:
                return "zero"
            rows = conn.execute(
                "SELECT DISTINCT ON (app) app, name FROM django_migrations "
                "ORDER BY app, applied DESC, id DESC"
            ).fetchall()
        return ",".join(f"{app}:{name}" for app, name in rows) or "zero"

    def _argv(self, command: str) -> list[str]:
        argv = shlex.split(command)
        if argv and self.bin_dir is not None and (self.bin_dir / argv[0]).is_file():
            argv[0] = str(self.bin_dir / argv[0])
        return argv

    def _steps(self, label: str, commands: list[str], url: str) -> StepOutcome:
        started = time.monotonic()
        outputs: list[str] = []
        ok = True
        for command in commands:
            outcome = self.run(self._argv(command), self.cwd, _env(self.env, url))
            outputs.append(outcome.output)
            if outcome.returncode != 0:
                ok = False
                break
        output = "\n".join(outputs)
        return StepOutcome(
            label, ok, round(time.monotonic() - started, 3), tail(output, 60),
            "; ".join(commands), django_step(output), self.current(url),
        )  # fmt: skip

    def upgrade(self, url: str, label: str) -> StepOutcome:
        return self._steps(label, [self.upgrade_command], url)

    def downgrade_commands(self, now: str, revision: str) -> list[str]:
        """The commands that take a database at ``now`` to ``revision``: each app back to
        its target in ``revision``, apps it does not name to zero."""
        wanted = dict(part.split(":", 1) for part in revision.split(",") if ":" in part)
        at = dict(p.split(":", 1) for p in now.split(",") if ":" in p)
        return [
            self.downgrade_command.format(app=app, migration=wanted.get(app, "zero"))
            for app in sorted(set(at) | set(wanted))
            if at.get(app) != wanted.get(app)
        ]

    def downgrade(self, url: str, revision: str, label: str) -> StepOutcome:
        """Each app back to its target in ``revision``; apps it does not name to zero."""
        return self._steps(label, self.downgrade_commands(self.current(url), revision), url)


@dataclass(frozen=True)
class ToolFiles:
    """Where a tool's own files are, relative to the release's folder (gate options)."""

    #: alembic: the ``alembic.ini`` (default ``alembic.ini``)
    config: str | None = None
    #: flask-migrate: ``FLASK_APP`` ("module" or "module:create_app()")
    app: str | None = None
    #: flask-migrate: the migrations folder (default ``migrations``)
    directory: str | None = None


def default_commands(kind: str, files: ToolFiles) -> tuple[str, str] | None:
    """(upgrade, downgrade) commands of an Alembic-based ``kind`` for ``files``; None for
    a kind whose class has its own defaults."""
    if kind == "flask-migrate":
        base = "flask" + (f" --app {shlex.quote(files.app)}" if files.app else "") + " db"
        where = f" --directory {shlex.quote(files.directory)}" if files.directory else ""
        return f"{base} upgrade{where}", f"{base} downgrade {{revision}}{where}"
    if kind == "alembic" and files.config and files.config != "alembic.ini":
        config = shlex.quote(files.config)
        return f"alembic -c {config} upgrade head", f"alembic -c {config} downgrade {{revision}}"
    return None


def missing_files(kind: str, cwd: Path, files: ToolFiles) -> str | None:
    """What the release's folder ``cwd`` lacks to run ``kind`` from, with what to do (checked
    before anything runs, so the cause is named instead of a failed rollback)."""
    if kind == "alembic":
        config = files.config or "alembic.ini"
        if not (cwd / config).is_file():
            return (f"no alembic.ini at {cwd / config}: set config = \"path/to/alembic.ini\" in "
                    "the migrations gate (relative to the release's folder; `stageline init` "
                    "finds it) and bundle it")  # fmt: skip
    if kind == "flask-migrate":
        directory = files.directory or "migrations"
        if not (cwd / directory / "env.py").is_file():
            return (f"no Flask-Migrate folder (env.py) at {cwd / directory}: set directory = "
                    '"..." in the migrations gate and bundle that folder')  # fmt: skip
    if kind == "django" and not (cwd / "manage.py").is_file():
        return f"no manage.py at {cwd}: tool 'django' runs `python manage.py migrate` there"
    return None


def command_migrator(
    kind: str,
    *,
    run: Runner,
    cwd: Path,
    env: Mapping[str, str],
    bin_dir: Path | None,
    upgrade: str | None = None,
    downgrade: str | None = None,
    files: ToolFiles | None = None,
) -> Alembic | Django:
    """The migrator of a tool driven by commands: Django for ``kind`` "django", Alembic
    otherwise (``flask-migrate`` is Alembic through Flask's CLI), with the pipeline's own
    ``upgrade``/``downgrade`` commands where it sets them (the `migrations` gate and
    rollback build theirs here)."""
    files = files or ToolFiles()
    if kind == "django":
        migrator: Alembic | Django = Django(run=run, cwd=cwd, env=env, bin_dir=bin_dir)
    else:
        if kind == "flask-migrate" and files.app:
            env = {**env, "FLASK_APP": files.app}
        migrator = Alembic(run=run, cwd=cwd, env=env, bin_dir=bin_dir, name=kind)
        defaults = default_commands(kind, files)
        if defaults is not None:
            migrator.upgrade_command, migrator.downgrade_command = defaults
    migrator.upgrade_command = upgrade or migrator.upgrade_command
    migrator.downgrade_command = downgrade or migrator.downgrade_command
    return migrator


@dataclass
class Command:
    """The service's own migration commands. ``current`` prints the revision on its last
    line of output (nothing: ``none``, a database the tool never ran on); a ``current``
    that fails is an error naming its output, never a guess."""

    run: Runner
    cwd: Path
    env: Mapping[str, str]
    upgrade_command: str
    downgrade_command: str
    current_command: str
    bin_dir: Path | None = None
    name: str = "command"
    initial: str = "none"
    reads_revision: bool = True

    def _argv(self, command: str) -> list[str]:
        argv = shlex.split(command)
        if argv and self.bin_dir is not None and (self.bin_dir / argv[0]).is_file():
            argv[0] = str(self.bin_dir / argv[0])
        return argv

    def current(self, url: str) -> str:
        outcome = self.run(self._argv(self.current_command), self.cwd, _env(self.env, url))
        if outcome.returncode != 0:
            raise UsageError(
                f"`{self.current_command}` exited {outcome.returncode}: "
                f"{tail(outcome.output, 3).strip()[:300]}",
                hint="the migrations gate's `current` must print the database's revision",
            )
        lines = [line.strip() for line in outcome.output.splitlines() if line.strip()]
        return lines[-1] if lines else "none"

    def _step(self, label: str, command: str, url: str) -> StepOutcome:
        started = time.monotonic()
        outcome = self.run(self._argv(command), self.cwd, _env(self.env, url))
        ok = outcome.returncode == 0
        return StepOutcome(
            label, ok, round(time.monotonic() - started, 3), tail(outcome.output, 60),
            command, "", self.current(url),
        )  # fmt: skip

    def upgrade(self, url: str, label: str) -> StepOutcome:
        return self._step(label, self.upgrade_command, url)

    def downgrade(self, url: str, revision: str, label: str) -> StepOutcome:
        return self._step(label, self.downgrade_command.format(revision=revision), url)


# -- readable revisions -------------------------------------------------------------------

#: revisions longer than this are named, not repeated (Django's per-app targets)
LONG_REVISION = 60


def per_app(revision: str) -> dict[str, str]:
    """Django's ``app:migration,...`` as app -> migration (empty for other tools)."""
    return dict(part.split(":", 1) for part in revision.split(",") if ":" in part)


def revision_changes(before: str, after: str) -> list[str]:
    """One line per app whose migration differs (``shop: 0002_x -> 0003_y``); for a
    tool with one revision, the one line ``A -> B``."""
    old, new = per_app(before), per_app(after)
    if not old and not new:
        return [] if before == after else [f"{before} -> {after}"]
    return [
        f"{app}: {old.get(app, 'zero')} -> {new.get(app, 'zero')}"
        for app in sorted(set(old) | set(new)) if old.get(app) != new.get(app)
    ]  # fmt: skip


def compact_route(before: str, after: str) -> str:
    """``before -> after`` when both are short; else the number of apps that change."""
    if len(before) <= LONG_REVISION and len(after) <= LONG_REVISION:
        return f"{before} -> {after}"
    changed = revision_changes(before, after)
    if len(changed) == 1:
        return changed[0]
    return f"{len(changed)} apps change ({', '.join(c.split(':', 1)[0] for c in changed[:4])}" + (
        ", ...)" if len(changed) > 4 else ")"
    )


def readable(text: str, names: Mapping[str, str], limit: int = 300) -> str:
    """``text`` with each long revision in ``names`` (revision -> what to call it)
    replaced by its name, whole routes first, and capped at ``limit`` characters."""
    for revision, name in sorted(names.items(), key=lambda item: -len(item[0])):
        if len(revision) > LONG_REVISION:
            text = text.replace(revision, name)
    return text if len(text) <= limit else text[: limit - 3] + "..."
