"""Review environments: ``review open``, ``list``, ``close`` and ``gc`` (``docs/review.md``).

``open REF`` builds REF once as a commit build (``pipeline.build(commit=True)``: the
manifest records the branch; such an artifact enters nothing but review environments),
then deploys it, through the same plan and execution as any deploy, to ``review/<slug>``:
an environment made from ``[review]`` (``decisions/review.py``) on its own port of
``[review] ports``, reached also as ``<slug>.<host_suffix>`` on the shared router
(``targets/review_router.py``), its database ``review_<slug>`` with a role of its own in
the one shared review PostgreSQL server (``targets/review_server.py``), cloned from the
newest snapshot when there is one, else left empty for the release command to build.
Opening the same slug again deploys the new build blue/green into the same environment;
its release command migrates its own database only.

Each open review is a record in ``.stageline/reviews/<slug>.review.json`` (what it runs, where,
since when); the events ``review.opened``, ``review.updated`` and ``review.closed`` go to
the audit log. ``close`` stops its processes, drops its database and role, removes
``envs/review/<slug>/`` and its front's log, frees its port and host name; the router
and the shared server stop with the last review. Ports, caps and databases are decided
under the ``review`` lock (an open, close or gc waits for another to let go of it); the
deploy itself holds only the environment's own lock, so reviews deploy in parallel.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from stageline.agent.state import AgentPaths, RunningEntry, load_running
from stageline.artifacts.source import branch_exists
from stageline.config.model import Environment, Pipeline, Postgres, Review
from stageline.decisions import review as decide
from stageline.decisions.review import GcFacts, ReviewRecord, Where
from stageline.errors import LockHeld, Refused, UsageError
from stageline.host import release_folder
from stageline.host.procfs import is_alive
from stageline.identity import current_actor
from stageline.state.snapshots import SnapshotRecord
from stageline.targets import review_router as router
from stageline.targets import review_server
from stageline.targets.local import port_is_free
from stageline.usecases import deploy
from stageline.usecases.permissions import require
from stageline.usecases.pipeline import Session, build
from stageline.usecases.review_list import (
    bare,
    find,
    list_reviews,
    load_all,
    record_path,
    save,
)

Progress = Callable[[str], None]
LOCK = "review"


@dataclass(frozen=True)
class Opened:
    record: ReviewRecord
    deployed: deploy.Deployed
    #: False: a new review environment; True: a new build switched into an open one
    updated: bool

    @property
    def state(self) -> str:
        return self.deployed.status.state


@dataclass(frozen=True)
class Closed:
    name: str
    reason: str | None = None


# -- open --------------------------------------------------------------------------------


def template(pipe: Pipeline) -> Review:
    if pipe.review is None:
        raise UsageError(
            f"{pipe.source} has no [review] table: review environments are not set up",
            hint="add a [review] table (see docs/review.md); `[review]` alone takes the defaults",
        )
    return pipe.review


def require_review_access(session: Session, pipe: Pipeline) -> str:
    """Who acts, if they may open and close review environments: whoever the pipeline's
    first environment's ``deploy`` rule lets deploy there (a review runs code that has not
    entered the pipeline yet, so nobody gets more than that); refused and audited
    otherwise, as every way into an environment is."""
    return require(session, "deploy", pipe.environments[0].name, pipe=pipe)


def open_review(
    session: Session,
    ref: str,
    *,
    name: str | None = None,
    untrusted: bool = False,
    progress: Progress | None = None,
) -> Opened:
    """Build ``ref`` once and run it in ``review/<slug of name or branch>`` (module doc).

    Refused (``Refused``, naming the oldest open review) over ``max_open`` or
    ``max_disk_mb``; a failed deploy leaves the previous build serving."""
    say = progress or (lambda _message: None)
    pipe = session.pipeline()
    review = template(pipe)
    require_review_access(session, pipe)
    built = build(session, ref, progress=say, commit=True)
    source = built.manifest.source
    label = decide.slug(name or source.branch or ref)
    home = session.workspace.home
    now = datetime.now(UTC)
    with _review_lock(session):  # ports, caps and databases are decided one at a time
        existing = record_path(home, label).is_file()
        if existing:
            record = replace(
                find(home, label), branch=source.branch or ref, commit=source.commit,
                digest=built.record.digest, untrusted=untrusted, updated_at=now,
            )  # fmt: skip
        else:
            record = _new_record(session, pipe, review, label, source.branch or ref, now)
            record = replace(record, commit=source.commit, digest=built.record.digest,
                             untrusted=untrusted)  # fmt: skip
        env, cloned = _environment(session, pipe, record, say)
        if cloned is not None:
            record = replace(record, snapshot=cloned)
        if not existing:  # kept even if the deploy fails, so that `review close` finds it
            save(home, record)
    augmented = pipe.model_copy(update={"environments": [*pipe.environments, env]})
    plan = deploy.plan(session, augmented, env.name, built.record, kind="deploy")
    done = deploy.execute(session, plan, say)  # under the environment's own lock
    save(home, record)
    _publish_routes(home, review)
    router.ensure_router(home, review.router_port)
    session.store.append_event(
        "review.updated" if existing else "review.opened",
        actor=current_actor(),
        environment=record.name,
        digest=record.digest,
        data={"branch": record.branch, "commit": record.commit, "url": record.url,
              "host_url": record.host_url, "untrusted": record.untrusted},
    )  # fmt: skip
    return Opened(record, done, updated=existing)


#: how long an open, close or gc waits for another one to let go of the review lock
LOCK_WAIT = 300.0


@contextmanager
def _review_lock(session: Session) -> Iterator[None]:
    """Hold the ``review`` lock, waiting (up to :data:`LOCK_WAIT` s) while another open,
    close or gc holds it: CI opens reviews of several pull requests at once."""
    deadline = time.monotonic() + LOCK_WAIT
    with ExitStack() as held:
        while True:
            try:
                held.enter_context(session.store.lock(LOCK, holder=current_actor()))
                break
            except LockHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
        yield


def _new_record(
    session: Session, pipe: Pipeline, review: Review, label: str, branch: str, now: datetime
) -> ReviewRecord:
    home = session.workspace.home
    open_now = load_all(home)
    why = decide.refusal(review, open_now, disk_bytes(home) / 1e6)
    if why is not None:
        raise Refused(why)
    port = decide.pick_port(review, {r.port for r in open_now}, port_is_free)
    if port is None:
        first, last = review.ports
        raise Refused(
            f"no port of [review] ports {first}-{last} is free",
            hint="close a review (`stageline review list`) or widen [review] ports",
        )
    host = f"{label}.{review.host_suffix}"
    return ReviewRecord(
        slug=label, branch=branch, commit="", digest="", port=port,
        url=f"http://127.0.0.1:{port}", host_url=f"http://{host}:{review.router_port}",
        untrusted=False, opened_at=now, updated_at=now,
        database=decide.database_of(label) if postgres_of(pipe) else None,
    )  # fmt: skip


def postgres_of(pipe: Pipeline) -> Postgres | None:
    """The PostgreSQL the review server runs: the brand and version the pipeline's
    environments declare (the first that has one); an external one's version, embedded."""
    pg = next((e.postgres for e in pipe.environments if e.postgres is not None), None)
    if pg is None:
        return None
    provider = "embedded" if pg.provider == "external" else pg.provider
    return Postgres(version=pg.version, provider=provider, extensions=pg.extensions)


def _environment(
    session: Session, pipe: Pipeline, record: ReviewRecord, say: Progress
) -> tuple[Environment, str | None]:
    """``record``'s environment, its database made first when it has none: cloned from
    the newest snapshot (whose name is returned), else empty (None)."""
    pg = postgres_of(pipe)
    url, cloned = None, None
    if pg is not None and record.database is not None:
        home = session.workspace.home
        template_db = None
        if not _database_exists(home, record.database):
            newest = session.store.snapshots()
            if newest:
                cloned = newest[0].name
                template_db = _snapshot_template(session, pipe, pg, newest[0], say)
            say(f"{'cloning ' + cloned if cloned else 'creating an empty database'}"
                f" as {record.database} in the shared review server")  # fmt: skip
        facts = review_server.open_database(home, pg, record.name, record.database, template_db)
        url = facts.url
    env = decide.environment(
        pipe, record, Where(record.port, url),
        scale_to_zero="scale_to_zero_after" in Environment.model_fields,
    )  # fmt: skip
    return env, cloned


def _database_exists(home: Path, database: str) -> bool:
    return review_server.leftovers(home, database)[0]


def _snapshot_template(
    session: Session, pipe: Pipeline, pg: Postgres, newest: SnapshotRecord, say: Progress
) -> str:
    """The shared server's copy of the snapshot ``newest`` (made once)."""
    holder = pipe.environment(newest.environment)
    target = session.target(holder, pipe.service.name)
    target.backing()
    say(f"copying snapshot {newest.name} into the shared review server (once)")
    return review_server.ensure_template(
        session.workspace.home, pg, target.admin_url(), newest.name
    )


def _publish_routes(home: Path, review: Review) -> None:
    routes = {f"{r.slug}.{review.host_suffix}": r.port for r in load_all(home)}
    router.write_routes(home, routes)


def disk_bytes(home: Path) -> int:
    """What the open reviews take on disk: their folders and databases."""
    total = review_server.database_bytes(home)
    for folder in (home / "envs" / "review").glob("*"):
        if folder.name == review_server.SERVER.split("/")[1]:
            continue
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                total += path.lstat().st_size
    return total


# -- close and gc ------------------------------------------------------------------------


def close_review(session: Session, name: str, *, reason: str | None = None) -> Closed:
    """Stop ``name``'s processes, drop its database and role, remove its folders, free its
    port and host name (module doc); the router and the shared server stop with the
    last review."""
    home = session.workspace.home
    pipe = session.pipeline()
    require_review_access(session, pipe)
    with _review_lock(session):
        record = find(home, name)
        target = session.target(bare(pipe, record), pipe.service.name)
        paths = AgentPaths(home)
        processes = [e for k, e in load_running(paths).items() if k.startswith(record.name + ":")]
        target.stop()
        if record.database is not None:
            review_server.drop(home, record.database)
        _wait_gone(processes)  # its front too: its log is written for good
        _wait_port_free(record.port)
        _remove_folder(home / "envs" / record.name)
        paths.front_log(record.name).unlink(missing_ok=True)
        record_path(home, record.slug).unlink(missing_ok=True)
        if pipe.review is not None:
            _publish_routes(home, pipe.review)
        if not load_all(home):
            router.stop_router(home)
            shared = review_server.running_server(home)
            if shared is not None:
                shared.stop()
    session.store.append_event(
        "review.closed",
        actor=current_actor(),
        environment=record.name,
        digest=record.digest,
        data={"branch": record.branch, "reason": reason or "closed"},
    )
    return Closed(record.name, reason)


def _wait_gone(processes: list[RunningEntry], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(is_alive(p.pid, p.proc_start) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_port_free(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_free(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def _remove_folder(folder: Path) -> None:
    """Remove a review's folder, its sealed release folders included."""
    for release in (folder / "releases").glob("*"):
        if release.is_dir():
            release_folder.remove(release)
    shutil.rmtree(folder, ignore_errors=True)


def gc(session: Session, *, now: datetime | None = None) -> list[Closed]:
    """Close every review past its TTL, idle too long, or whose branch is gone."""
    pipe = session.pipeline()
    review = template(pipe)
    now = now or datetime.now(UTC)
    repo = session.workspace.root
    closed = []
    for view in list_reviews(session, now=now):
        record = view.record
        exists = None if record.branch == record.commit else branch_exists(repo, record.branch)
        why = decide.expired(review, GcFacts(record, now, view.last_request, exists))
        if why is not None:
            closed.append(close_review(session, record.name, reason=why))
    return closed
