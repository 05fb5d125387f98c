"""``stageline traffic``: an environment's traffic profile, as its proxy recorded it.

Read from the environment's day files (``stageline.traffic.store``), never from the
state store: the fronts write them, this only reads. The minute in progress appears
once it ends (the front writes ended minutes every few seconds) or once the front stops.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stageline.traffic.minutes import build_profile
from stageline.traffic.profile import TrafficProfile
from stageline.traffic.store import RETAIN_DAYS, TrafficStore, traffic_dir
from stageline.usecases.pipeline import Session


def profile(
    session: Session,
    environment: str,
    since: datetime | None = None,
    *,
    until: datetime | None = None,
) -> TrafficProfile:
    """``environment``'s traffic profile from ``since`` (default: all that is kept, the
    last ``RETAIN_DAYS`` days) to ``until`` (default: now). An unknown environment is an
    ``UnknownName`` error listing the valid ones; one that records nothing has an empty
    profile."""
    env = session.pipeline().environment(environment)
    end = until or datetime.now(UTC)
    start = since or end - timedelta(days=RETAIN_DAYS)
    store = TrafficStore(traffic_dir(session.workspace.home, env.name))
    return build_profile(env.name, start, end, store.read(start, end))
