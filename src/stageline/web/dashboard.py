"""What the dashboard keeps between requests: the workspace, the store's connection pool,
the parsed pipeline file (re-read when it changes), the health cache and the fingerprint
the event stream watches. Each request gets its own :class:`WebSession`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request

from stageline.artifacts import ArtifactStore
from stageline.config import Pipeline, load_pipeline
from stageline.config.loader import find_pipeline_file
from stageline.errors import StagelineError
from stageline.host.workspace import Workspace
from stageline.state import ArtifactRecord, Store
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import secrets_for
from stageline.usecases.status import observe
from stageline.usecases.views import NOT_DEPLOYED, Observed, PipelineView, parity_of, pipeline_view
from stageline.web.health import HealthCache

#: how often the event stream looks at the store
POLL_SECONDS = 1.0


@dataclass
class WebSession(Session):
    """The library's Session over the dashboard's long-lived store and cached pipeline."""

    cached: Callable[[], Pipeline] | None = None
    #: digest -> artifact record (immutable), shared by the dashboard's sessions
    artifacts_seen: dict[str, ArtifactRecord] | None = None

    def load_pipeline(self) -> Pipeline:
        return self.cached() if self.cached else super().load_pipeline()

    def close(self) -> None:  # the store's pool belongs to the app
        pass


@dataclass
class Dashboard:
    root: Path
    workspace: Workspace
    store: Store
    artifacts: ArtifactStore
    health: HealthCache[Observed] = field(default_factory=HealthCache)
    health_timeout: float = 0.5
    #: listening on an address other than loopback: nobody reads anonymously
    public: bool = False
    _pipeline: tuple[object, Pipeline] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fingerprint: tuple[float, tuple[Any, ...]] | None = None
    _secrets_at: float = float("-inf")
    _memo: dict[Any, tuple[Any, float, Any]] = field(default_factory=dict)
    _artifacts_seen: dict[str, ArtifactRecord] = field(default_factory=dict)

    def pipeline(self) -> Pipeline:
        """The pipeline file, parsed again only when it changed on disk."""
        path = find_pipeline_file(self.root)
        try:
            stat = path.stat()
            key: object = (str(path), stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        cached = self._pipeline
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        pipe = load_pipeline(self.root)
        self._pipeline = (key, pipe)
        return pipe

    def session(self) -> WebSession:
        session = WebSession(
            self.workspace, self.store, self.artifacts, self.pipeline, self._artifacts_seen
        )
        if time.monotonic() - self._secrets_at > 30:
            self._secrets_at = time.monotonic()
            self.remember_secrets(session)
        return session

    def remember_secrets(self, session: Session) -> None:
        """Resolve every environment's secrets once, so ``redact`` masks their values in
        anything the dashboard shows (gate evidence, notes, events)."""
        for env in session.pipeline().environments:
            try:
                secrets_for(env, session)
            except (StagelineError, OSError, ValueError):
                continue  # no master key here: the stored evidence was masked when written

    def anonymous(self) -> str:
        """What anonymous visitors may do: "none" whatever the file says once the
        dashboard listens beyond loopback (the file may change after the start)."""
        return "none" if self.public else self.pipeline().dashboard.anonymous

    def check(self, env: Any) -> Observed:
        pipe = self.pipeline()
        target = self.session().target(env, pipe.service.name)
        return observe(target, pipe.service.health, self.health_timeout)

    def healths(self) -> dict[str, Observed]:
        return dict(self.health.get(list(self.pipeline().environments), self.check))

    def view(self) -> PipelineView:
        """The read model, with what the targets report from the health cache and the
        parity facts (whole history) remembered until the store or the file changes."""
        session, observed = self.session(), self.healths()
        read = self._pipeline[0] if self._pipeline else None  # the file as last read
        return pipeline_view(
            session,
            lambda env: observed.get(env.name, Observed(NOT_DEPLOYED)),
            self.memo(("parity", read), lambda: parity_of(session)),
        )

    def data_version(self) -> tuple[Any, ...]:
        """Changes whenever a deployment starts or ends or an event is appended."""
        events = self.store.events(limit=1)
        deployments = self.store.deployments(limit=1)
        return (
            events[0].id if events else 0,
            (deployments[0].id, deployments[0].status) if deployments else None,
        )

    def memo(self, key: Any, build: Callable[[], Any], ttl: float = 60.0) -> Any:
        """``build()`` again only when the store changed or ``ttl`` seconds passed (for
        the pages that read whole history, such as the DORA metrics)."""
        version = self.data_version()
        found = self._memo.get(key)
        if found and found[0] == version and time.monotonic() - found[1] < ttl:
            return found[2]
        value = build()
        self._memo[key] = (version, time.monotonic(), value)
        return value

    def fingerprint(self) -> tuple[Any, ...]:
        """Changes when anything the pages show changed: deployments, gate runs, verdicts
        (each appends an event), events, health. Cached for most of a poll interval."""
        with self._lock:
            cached = self._fingerprint
            if cached and time.monotonic() - cached[0] < POLL_SECONDS * 0.8:
                return cached[1]
            runs = self.store.gate_runs(limit=1)
            healths = self.health.refresh(list(self.pipeline().environments), self.check)
            value = (
                *self.data_version(),
                runs[0].id if runs else 0,
                tuple(sorted((name, seen.health) for name, seen in healths.items())),
            )
            self._fingerprint = (time.monotonic(), value)
            return value


def dashboard_of(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash
