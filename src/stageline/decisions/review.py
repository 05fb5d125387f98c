"""Review environments, decided: names, ports, caps, what ``gc`` closes, and the
environment one becomes. Pure: facts in, decisions out (``usecases/review.py`` acts).

=====================  =====================================================================
decision               rule
=====================  =====================================================================
:func:`slug`           a branch as a host-name label: lower case, runs of anything but
                       ``a-z0-9`` become one ``-``; over 40 characters it is cut and ends in
                       8 hex digits of the branch's sha256, so two long branches never meet
:func:`pick_port`      the lowest port of ``[review] ports`` no open review holds and the
                       host has free
:func:`refusal`        opening one more is refused at ``max_open`` open, or when the disk
                       they take is over ``max_disk_mb``; the refusal names the oldest open
                       one (by its last update) and the command that closes it
:func:`expired`        ``gc`` closes one past ``ttl_hours`` since it was opened, idle over
                       ``idle_close_hours`` (last request, else last update), or whose
                       branch no longer exists (a commit opened by hash never expires so)
:func:`environment`    the ``[review]`` template over ``[defaults]`` vars, as an environment
                       named ``review/<slug>`` on its own port, its database reached by URL
                       in the shared server; untrusted: no secrets and no
                       ``STAGELINE_ALLOW_*`` variable (no outbound allowance)
=====================  =====================================================================
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stageline.config.model import REVIEW_PREFIX, Environment, Pipeline, Review
from stageline.errors import UsageError

SLUG_MAX = 40
#: the runtime guard's override variables (``runtime.guard.override_variable``): what
#: lets a side effect really happen outside production; an untrusted review gets none
ALLOW_PREFIX = "STAGELINE_ALLOW_"
_NOT_LABEL = re.compile(r"[^a-z0-9]+")


def slug(branch: str) -> str:
    """``branch`` as a host-name label (see the module's table); UsageError when nothing
    of it is left."""
    text = _NOT_LABEL.sub("-", branch.lower()).strip("-")
    if not text:
        raise UsageError(
            f"{branch!r} gives no name for a review environment",
            hint="name it with --name NAME (letters, digits and dashes)",
        )
    if len(text) <= SLUG_MAX:
        return text
    tail = hashlib.sha256(branch.encode()).hexdigest()[:8]
    return f"{text[: SLUG_MAX - 9].rstrip('-')}-{tail}"


def name_of(label: str) -> str:
    """The environment's name of a review slug: ``review/<slug>``."""
    return REVIEW_PREFIX + label


def slug_of(name: str) -> str:
    """The slug of ``review/<slug>`` (or of a bare slug)."""
    return name.removeprefix(REVIEW_PREFIX)


def database_of(label: str) -> str:
    """The review's database (and role) name in the shared server: ``review_<slug>``."""
    return ("review_" + label.replace("-", "_"))[:63]


@dataclass(frozen=True)
class ReviewRecord:
    """One open review environment, as kept in ``.stageline/reviews/<slug>.json``."""

    slug: str
    branch: str
    commit: str
    digest: str
    port: int
    url: str
    host_url: str
    untrusted: bool
    opened_at: datetime
    updated_at: datetime
    #: its database in the shared server (None: the service has no PostgreSQL)
    database: str | None = None
    #: the snapshot its database was cloned from (None: built from empty)
    snapshot: str | None = None

    @property
    def name(self) -> str:
        return name_of(self.slug)

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items()}
        data["opened_at"] = self.opened_at.isoformat()
        data["updated_at"] = self.updated_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewRecord:
        fields = dict(data)
        fields["opened_at"] = datetime.fromisoformat(fields["opened_at"])
        fields["updated_at"] = datetime.fromisoformat(fields["updated_at"])
        return cls(**fields)


def pick_port(review: Review, taken: set[int], is_free: Callable[[int], bool]) -> int | None:
    """The lowest port of the range that no open review holds and ``is_free``; None."""
    first, last = review.ports
    return next(
        (p for p in range(first, last + 1) if p not in taken and p != review.router_port
         and is_free(p)),
        None,
    )  # fmt: skip


def oldest(records: Sequence[ReviewRecord]) -> ReviewRecord | None:
    """The open review touched least recently (by its last update)."""
    return min(records, key=lambda r: (r.updated_at, r.slug), default=None)


def refusal(review: Review, open_now: Sequence[ReviewRecord], disk_mb: float) -> str | None:
    """Why one more review may not open now (None: it may); names the oldest to close."""
    reasons = []
    if len(open_now) >= review.max_open:
        reasons.append(f"{len(open_now)} review environments are open ([review] max_open = "
                       f"{review.max_open})")  # fmt: skip
    if review.max_disk_mb is not None and disk_mb >= review.max_disk_mb:
        reasons.append(f"review environments take {disk_mb:.0f} MB of disk ([review] "
                       f"max_disk_mb = {review.max_disk_mb})")  # fmt: skip
    first = oldest(open_now)
    if not reasons or first is None:
        return None
    return (f"{'; '.join(reasons)}: close one first, the oldest is {first.name} "
            f"(`stageline review close {first.name}`)")  # fmt: skip


@dataclass(frozen=True)
class GcFacts:
    """What ``gc`` knows of one open review."""

    record: ReviewRecord
    now: datetime
    #: the last request the router saw for it (None: none yet)
    last_request: datetime | None = None
    #: whether its branch still exists (None: it was opened for a commit, not a branch)
    branch_exists: bool | None = True


def expired(review: Review, facts: GcFacts) -> str | None:
    """Why ``gc`` closes this review now (None: it stays open)."""
    rec = facts.record
    age = facts.now - rec.opened_at
    if age >= timedelta(hours=review.ttl_hours):
        return f"opened {_hours(age)} ago ([review] ttl_hours = {review.ttl_hours})"
    if facts.branch_exists is False:
        return f"branch {rec.branch} no longer exists"
    if review.idle_close_hours is not None:
        seen = max(facts.last_request or rec.updated_at, rec.updated_at)
        idle = facts.now - seen
        if idle >= timedelta(hours=review.idle_close_hours):
            return f"no request for {_hours(idle)} ([review] idle_close_hours = " \
                   f"{review.idle_close_hours})"  # fmt: skip
    return None


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"


@dataclass(frozen=True)
class Where:
    """How a review environment is reached: its port, and its database URL (the review's
    own role in the shared server; None without PostgreSQL)."""

    port: int
    database_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def environment(
    pipe: Pipeline, record: ReviewRecord, where: Where, *, scale_to_zero: bool
) -> Environment:
    """The environment ``record`` runs as (see the module's table). Validated as any
    environment is (under a stand-in name: ``review/`` is not a name the file may use).

    ``scale_to_zero``: whether environments know ``scale_to_zero_after`` (the key of the
    scale-to-zero feature); the template's value is set only then."""
    review = pipe.review
    if review is None:
        raise UsageError(
            "the pipeline file has no [review] table",
            hint="add [review] to the pipeline file (see docs/review.md)",
        )
    base = pipe.first
    vars_ = {**_defaults_vars(pipe), **review.vars}
    if record.untrusted:  # no outbound allowance: every guarded side effect is recorded
        vars_ = {k: v for k, v in vars_.items() if not k.startswith(ALLOW_PREFIX)}
    data: dict[str, Any] = {
        "name": "review",
        "tier": review.tier,
        "url": f"http://127.0.0.1:{where.port}",
        "target": {"kind": "local", "port": where.port},
        "vars": vars_,
        "secrets": [] if record.untrusted else list(review.secrets),
        "gates": {name: gate.model_dump() for name, gate in review.gates.items()},
        "accept": ["*"],
        "health_timeout": base.health_timeout,
        "watch": min(base.watch, 5),
        "drain_timeout": min(base.drain_timeout, 10),
        "retain": 2,
        **where.extra,
    }
    if where.database_url is not None:
        data["services"] = {"postgres": {"provider": "external", "url": where.database_url}}
    if scale_to_zero and review.scale_to_zero_after is not None:
        data["scale_to_zero_after"] = review.scale_to_zero_after
    env = Environment.model_validate(data)
    return env.model_copy(update={"name": record.name})


def _defaults_vars(pipe: Pipeline) -> dict[str, str]:
    """The vars every environment of the file shares (what ``[defaults]`` gave them)."""
    shared = dict(pipe.first.vars)
    for env in pipe.environments[1:]:
        shared = {k: v for k, v in shared.items() if env.vars.get(k) == v}
    return shared
