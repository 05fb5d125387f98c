"""What serves in an environment, and settling deployments a killed command left open.

Two use cases need the truth after a deploy was killed mid-way: the next ``deploy`` (it
settles before it plans) and every decision bound to a digest (``approve``, ``reject``,
``verify``: the decision must be for what serves). The target is that truth; the store
catches up here.
"""

from __future__ import annotations

from stageline.agent.record import settle
from stageline.config.model import Environment
from stageline.identity import current_actor
from stageline.state import DeploymentRecord, DeploymentStatus
from stageline.usecases.pipeline import Session


def live_digest(session: Session, env: Environment, service: str | None = None) -> str | None:
    """The digest ``env``'s target serves (None: nothing runs there)."""
    status = session.target(env, service or session.pipeline().service.name).status()
    return status.digest if status is not None and status.state != "stopped" else None


def reconcile(session: Session, env: Environment, service: str) -> list[DeploymentRecord]:
    """Settle ``env``'s deployments left ``in_progress`` by a command that died: succeeded
    if the agent serves their digest, failed otherwise. Call it holding the deploy lock."""
    stale = [d for d in session.store.deployments(env.name, limit=20) if d.status == "in_progress"]
    if not stale:
        return []
    serving = live_digest(session, env, service)
    settled = []
    for record in stale:
        wanted: DeploymentStatus = "succeeded" if record.digest == serving else "failed"
        detail = "" if wanted == "succeeded" else "interrupted: the deploying command stopped"
        done = settle(session.store, env.name, record.id, wanted, detail, actor=current_actor())
        if done is not None:
            settled.append(done)
    return settled
