"""The open review environments as records and as seen now (``review list``, ``status``,
the dashboard): read-only, so the read model may use it without the verbs of
``usecases/review.py``.

Each open review is a record in ``.stageline/reviews/<slug>.review.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stageline.config.model import Environment, Pipeline
from stageline.decisions import review as decide
from stageline.decisions.review import ReviewRecord, Where
from stageline.errors import UnknownName
from stageline.host.procfs import descendants, rss_bytes
from stageline.targets import review_router as router
from stageline.usecases.pipeline import Session
from stageline.values import age


@dataclass(frozen=True)
class ReviewView:
    """One open review as ``review list``, ``status`` and the dashboard show it."""

    record: ReviewRecord
    state: str
    last_request: datetime | None
    memory_bytes: int
    age_seconds: float

    def to_json(self) -> dict[str, Any]:
        rec = self.record
        return {
            "name": rec.name, "branch": rec.branch, "commit": rec.commit, "digest": rec.digest,
            "url": rec.url, "host_url": rec.host_url, "state": self.state,
            "untrusted": rec.untrusted, "opened_at": rec.opened_at.isoformat(),
            "updated_at": rec.updated_at.isoformat(), "age_seconds": round(self.age_seconds),
            "age": age(rec.opened_at),
            "last_request": self.last_request.isoformat() if self.last_request else None,
            "memory_bytes": self.memory_bytes,
        }  # fmt: skip


# -- records -----------------------------------------------------------------------------


def records_folder(home: Path) -> Path:
    return router.folder(home)


def load_all(home: Path) -> list[ReviewRecord]:
    """Every open review's record, oldest first."""
    found = []
    for path in sorted(records_folder(home).glob("*.review.json")):
        found.append(ReviewRecord.from_json(json.loads(path.read_text())))
    return sorted(found, key=lambda r: (r.opened_at, r.slug))


def record_path(home: Path, label: str) -> Path:
    return records_folder(home) / f"{label}.review.json"


def save(home: Path, record: ReviewRecord) -> None:
    path = record_path(home, record.slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".new")
    scratch.write_text(json.dumps(record.to_json(), indent=2))
    os.replace(scratch, path)


def find(home: Path, name: str) -> ReviewRecord:
    """The open review ``name`` (``review/<slug>``, the slug, or the branch name it was
    opened with, as CI passes it); UnknownName otherwise."""
    label = decide.slug(decide.slug_of(name))
    path = record_path(home, label)
    if not path.is_file():
        names = [r.name for r in load_all(home)]
        raise UnknownName("review environment", name, names, hint="`stageline review list`")
    return ReviewRecord.from_json(json.loads(path.read_text()))


# -- list --------------------------------------------------------------------------------


def list_reviews(session: Session, *, now: datetime | None = None) -> list[ReviewView]:
    """Every open review with its state, last request and memory, oldest first."""
    home = session.workspace.home
    pipe = session.pipeline()
    seen = router.last_requests(home)
    suffix = pipe.review.host_suffix if pipe.review else ""
    now = now or datetime.now(UTC)
    views = []
    for record in load_all(home):
        if pipe.review is None:  # the template was removed: nothing to observe them by
            since = (now - record.opened_at).total_seconds()
            views.append(ReviewView(record, "unknown", None, 0, since))
            continue
        target = session.target(bare(pipe, record), pipe.service.name)
        status = target.status()
        pids = {p.pid for p in status.processes if p.pid} if status else set()
        if status is not None and status.pid:
            pids.add(status.pid)
        every = set().union(*(descendants(pid) for pid in pids)) if pids else set()
        views.append(
            ReviewView(
                record,
                status.state if status is not None else "down",
                seen.get(f"{record.slug}.{suffix}"),
                rss_bytes(every),
                (now - record.opened_at).total_seconds(),
            )
        )
    return views


def bare(pipe: Pipeline, record: ReviewRecord) -> Environment:
    """``record``'s environment without touching its database (to observe or stop it)."""
    return decide.environment(pipe, record, Where(record.port), scale_to_zero=False)


def count_open(home: Path) -> int:
    """How many review environments are open (``status``'s line)."""
    return len(list(records_folder(home).glob("*.review.json")))
