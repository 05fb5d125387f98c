"""The state store: artifacts, deployments, the audit log, and locks.

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

__all__ = [
    "GENESIS_HASH",
    "ArtifactRecord",
    "Backend",
    "DeploymentKind",
    "DeploymentRecord",
    "DeploymentStatus",
    "EventRecord",
    "Store",
    "event_hash",
]
