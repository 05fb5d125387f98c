"""Recording a switch's outcome in the state store, from the agent or from the command.

Two writers may settle the same deployment: the command that asked for the switch (it
records ``succeeded`` once the switch is done, or ``failed``), and the agent (it records
``rolled_back`` when the watch window catches a bad release, or settles a deployment
whose command is gone). Both derive the outcome from the same fact, which release the
agent serves, and :func:`next_status` makes the writes commute: whoever comes first
wins, except that a rollback always overrides a success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the agent imports the state store (SQLAlchemy) only when it records
    from stageline.state import DeploymentRecord, Store
    from stageline.state.models import DeploymentStatus

AGENT_ACTOR = "stageline-agent"


def next_status(current: DeploymentStatus, wanted: DeploymentStatus) -> DeploymentStatus | None:
    """The status to write when ``wanted`` meets a record that is ``current``; None: keep."""
    if wanted == "in_progress" or current == wanted:
        return None
    if current == "in_progress":
        return wanted
    if current == "succeeded" and wanted == "rolled_back":
        return wanted
    return None


def find_deployment(store: Store, environment: str, deployment_id: int) -> DeploymentRecord | None:
    for record in store.deployments(environment, limit=1000):
        if record.id == deployment_id:
            return record
    return None


def settle(
    store: Store,
    environment: str,
    deployment_id: int,
    wanted: DeploymentStatus,
    detail: str = "",
    *,
    actor: str = AGENT_ACTOR,
    event: bool = True,
) -> DeploymentRecord | None:
    """Move a deployment to ``wanted`` if :func:`next_status` allows; return the record as it
    stands afterwards (None if there is no such deployment). With ``event``, a change is
    audited as ``deploy.<status>`` by ``actor`` (the deploy use case audits its own)."""
    record = find_deployment(store, environment, deployment_id)
    if record is None:
        return None
    status = next_status(record.status, wanted)
    if status is None:
        return record
    done = store.finish_deployment(deployment_id, status, detail)
    if event:
        store.append_event(
            f"deploy.{status}",
            actor=actor,
            environment=environment,
            digest=record.digest,
            data={"deployment": deployment_id, "reason": detail, "settled": True},
        )
    return done


def settle_at(
    url: str, environment: str, deployment_id: int, wanted: DeploymentStatus, detail: str = ""
) -> DeploymentRecord | None:
    """:func:`settle` on the store at ``url`` (the agent's side; runs in a thread)."""
    from stageline.state import Store

    with Store.open(url) as store:
        return settle(store, environment, deployment_id, wanted, detail)


def note_at(
    url: str, environment: str, ref_id: int, digest: str, kind: str, **data: object
) -> None:
    """Audit what the agent did on its own for deployment ``ref_id`` (a switch back
    started, done or failed), so history shows it (the agent's side; runs in a thread)."""
    from stageline.state import Store

    with Store.open(url) as store:
        store.append_event(
            kind,
            actor=AGENT_ACTOR,
            environment=environment,
            digest=digest,
            data={"deployment": ref_id, **data},
        )
