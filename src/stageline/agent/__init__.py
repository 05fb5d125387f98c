"""The host runtime: one agent process per ``.stageline`` folder runs every environment's
service on this host, restarts crashed ones with backoff, and takes orders over a unix
socket; each blue/green environment's public port is held by a front process of its own
(``front``), which outlives the agent. See ``server`` for the protocol and lifetime
rules.

Import from the submodules (``stageline.agent.client``, ``.server``, ``.spec``...): this
package imports nothing, so a front process does not pay for the agent's state store."""
