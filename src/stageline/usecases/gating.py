"""What the gates are given: the views of a session, built once per run by the caller.

A gate never opens the pipeline file, the state store or a target itself
(``gates.base``); ``verify`` and the after-deploy checks build a :class:`GateViews` from
their :class:`~stageline.usecases.pipeline.Session` once, and every gate's context carries it.
This module is the one place that turns a session into what gates may read: the pipeline
as loaded for this run, the store's reads (:class:`SessionStore`), and the environments'
targets with their backing facts (:class:`SessionTargets`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stageline.config.model import Pipeline
from stageline.config.resolve import PostgresFacts
from stageline.data.snapshot import newest_snapshot
from stageline.gates.base import StoreView, TargetView
from stageline.parity.facts import Facts
from stageline.parity.probe import probe
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


@dataclass(frozen=True)
class GateViews:
    """The pipeline, store view and target view every gate of one run is given."""

    pipeline: Pipeline
    store: StoreView
    targets: TargetView


def gate_views(session: Session, pipeline: Pipeline | None = None) -> GateViews:
    """The views of ``session`` for one run of gates, on ``pipeline`` (default: the
    session's pipeline, loaded now, once for the whole run)."""
    pipe = pipeline if pipeline is not None else session.pipeline()
    return GateViews(pipe, SessionStore(session, pipe), SessionTargets(session, pipe))
