"""Each environment's health, checked concurrently with a short timeout and cached.

The pipeline page must not wait 2 s per environment that is down, so the dashboard never
checks health while it renders: :class:`HealthCache` answers from what it last saw and
refreshes in the background (the server-sent-event poller calls :meth:`refresh` about
once a second, and a page that finds the cache older than ``max_age`` starts one). Only
the very first look, with nothing cached, waits for one concurrent round (at most about
``timeout`` seconds, however many environments are down).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Generic, TypeVar

from stageline.config.model import Environment, Pipeline
from stageline.targets.registry import resolve
from stageline.usecases.status import observe

#: what a check finds: a health ("healthy" | "unhealthy" | "down" | "idle") or all the target
#: reports (:class:`stageline.usecases.views.Observed`)
Found = TypeVar("Found")
#: env -> what it found
Checker = Callable[[Environment], Found]


def check_environment(home: Path, pipe: Pipeline, env: Environment, timeout: float) -> str:
    """One environment's health: running under the agent, answering 200 on the health path.
    (No store access: whether anything is deployed there is the page's own question.)"""
    target = resolve(home, env, pipe.service.name)
    return observe(target, pipe.service.health, timeout).health


class HealthCache(Generic[Found]):
    """The last health seen per environment; refreshed concurrently, never while rendering."""

    def __init__(self, max_age: float = 3.0) -> None:
        self.max_age = max_age
        self._values: dict[str, Found] = {}
        self._at = 0.0
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()

    def refresh(self, environments: list[Environment], check: Checker[Found]) -> dict[str, Found]:
        """Check every environment at once; returns (and keeps) the new values."""
        if not self._refreshing.acquire(blocking=False):
            return self.values()
        try:
            if environments:
                with ThreadPoolExecutor(max_workers=min(8, len(environments))) as pool:
                    found = dict(zip([e.name for e in environments],
                                     pool.map(check, environments), strict=True))  # fmt: skip
            else:
                found = {}
            with self._lock:
                self._values, self._at = found, time.monotonic()
            return found
        finally:
            self._refreshing.release()

    def values(self) -> dict[str, Found]:
        with self._lock:
            return dict(self._values)

    def get(self, environments: list[Environment], check: Checker[Found]) -> Mapping[str, Found]:
        """What is cached; the first time (or for a new environment) one concurrent round,
        and a background refresh when the values are older than ``max_age``."""
        with self._lock:
            values, age = dict(self._values), time.monotonic() - self._at
        if any(e.name not in values for e in environments):
            return self.refresh(environments, check)
        if age > self.max_age:
            threading.Thread(target=self.refresh, args=(environments, check), daemon=True).start()
        return values
