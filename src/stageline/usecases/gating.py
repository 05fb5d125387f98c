"""What the gates are given: the views of a session, built once per run by the caller.

A gate never opens the pipeline file, the state store or a target itself
(``gates.base``); ``verify`` and the after-deploy checks build a :class:`GateViews` from
their :class:`~stageline.usecases.pipeline.Session` once, and every gate's context carries it.
This module is the one place that turns a session into what gates may read: the pipeline
as loaded for this run, the store's reads (:class:`SessionStore`), and the environments'
targets with their backing facts (:class:`SessionTargets`), and for gates that start
releases of their own, the releases and recorded traffic (:class:`SessionReleases`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stageline.config.model import Pipeline
from stageline.config.resolve import PostgresFacts
from stageline.data.snapshot import newest_snapshot
from stageline.gates.base import ReleaseView, Runnable, StoreView, TargetView
from stageline.parity.facts import Facts
from stageline.parity.probe import probe
from stageline.targets.base import Release
from stageline.traffic.profile import TrafficProfile
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import secrets_for


@dataclass(frozen=True)
class SessionStore:
    """:class:`~stageline.gates.base.StoreView` over a session's store (reads only)."""

    session: Session
    pipeline: Pipeline

    def newest_snapshot(self, environment: str) -> str | None:
        record = newest_snapshot(self.session.store, environment)
        return record.name if record is not None else None

    def secrets(self, environment: str) -> Mapping[str, str]:
        return secrets_for(self.pipeline.environment(environment), self.session)


@dataclass(frozen=True)
class SessionTargets:
    """:class:`~stageline.gates.base.TargetView`: the environments of ``pipeline`` as this
    host runs them (backing facts from each environment's :class:`Target`)."""

    session: Session
    pipeline: Pipeline

    def postgres(self, environment: str) -> PostgresFacts | None:
        env = self.pipeline.environment(environment)
        return self.session.target(env, self.pipeline.service.name).backing(start=False)

    def admin_url(self, environment: str, database: str = "postgres") -> str:
        env = self.pipeline.environment(environment)
        return self.session.target(env, self.pipeline.service.name).admin_url(database)

    def probe(self, environment: str) -> Facts:
        return probe(self.session, environment)

    def serving_ports(self, environment: str) -> tuple[int, ...]:
        env = self.pipeline.environment(environment)
        running = self.session.target(env, self.pipeline.service.name).status()
        if running is None or running.state == "stopped":
            return ()
        return tuple(p.port for p in running.processes if p.port) or (running.port,)


@dataclass(frozen=True)
class SessionReleases:
    """:class:`~stageline.gates.base.ReleaseView` over a session: the digest an
    environment serves (its latest succeeded deployment), a stored digest prepared on an
    environment's host as a deploy prepares it (``deploy.materialize`` does the same:
    every file verified, the sealed release folder made or checked), and the traffic profile
    an environment's proxy recorded."""

    session: Session
    pipeline: Pipeline

    def serving(self, environment: str) -> str | None:
        current = self.session.store.current_deployment(environment)
        return current.digest if current is not None else None

    def runnable(self, environment: str, digest: str) -> Runnable:
        env = self.pipeline.environment(environment)
        self.session.artifacts.verify(digest)
        _, manifest = self.session.artifacts.load(digest)
        release = Release(env.name, digest, manifest, self.session.artifacts.path_for(digest))
        prepared = self.session.target(env, manifest.service.name).prepare(release)
        service = manifest.service
        return Runnable(
            digest, service.version, prepared.workdir, prepared.bin_dir, service.start,
            service.health,
        )  # fmt: skip

    def traffic(self, environment: str) -> TrafficProfile | None:
        from stageline.usecases.traffic import profile

        env = self.pipeline.environment(environment)
        self.session.target(env, self.pipeline.service.name).flush_traffic()
        found = profile(self.session, environment)
        return found if found.routes else None


@dataclass(frozen=True)
class GateViews:
    """The pipeline, store view and target view every gate of one run is given (and the
    releases, for gates that start their own)."""

    pipeline: Pipeline
    store: StoreView
    targets: TargetView
    releases: ReleaseView | None = field(default=None)


def gate_views(session: Session, pipeline: Pipeline | None = None) -> GateViews:
    """The views of ``session`` for one run of gates, on ``pipeline`` (default: the
    session's pipeline, loaded now, once for the whole run)."""
    pipe = pipeline if pipeline is not None else session.pipeline()
    return GateViews(
        pipe, SessionStore(session, pipe), SessionTargets(session, pipe),
        SessionReleases(session, pipe),
    )  # fmt: skip
