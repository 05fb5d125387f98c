"""The state store: artifacts, deployments, the audit log, locks, gate runs and verdicts.

``Store.open(url)`` gives a migrated store on a SQLite file or a PostgreSQL database;
it hands out the frozen records re-exported here.
"""

from stageline.state.models import (
    GENESIS_HASH,
    ArtifactRecord,
    DeploymentKind,
    DeploymentRecord,
    DeploymentStatus,
    EventRecord,
    event_hash,
)
from stageline.state.store import Backend, Store
from stageline.state.verification import GateRunRecord, GateStatus, VerdictKind, VerdictRecord

__all__ = [
    "GENESIS_HASH",
    "ArtifactRecord",
    "Backend",
    "DeploymentKind",
    "DeploymentRecord",
    "DeploymentStatus",
    "EventRecord",
    "GateRunRecord",
    "GateStatus",
    "Store",
    "VerdictKind",
    "VerdictRecord",
    "event_hash",
]
