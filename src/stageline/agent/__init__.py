"""The host runtime: one agent process per ``.stageline`` folder runs every environment's
service on this host, restarts crashed ones with backoff, and takes orders over a unix
socket; each blue/green environment's public port is held by a front process of its own
(``front``), which outlives the agent. See ``server`` for the protocol and lifetime
rules."""

from stageline.agent.client import AgentClient
from stageline.agent.server import run_agent
from stageline.agent.spec import ProcessSpec, ServiceState, ServiceStatus
from stageline.agent.supervisor import SupervisionPolicy

__all__ = [
    "AgentClient",
    "ProcessSpec",
    "ServiceState",
    "ServiceStatus",
    "SupervisionPolicy",
    "run_agent",
]
