"""Kind ``side-effects``: prove the service outside production did not reach a real provider.

The gate makes the service attempt its side effects (the ``steps``, as in the ``http``
gate: place an order, sign up a user), and meanwhile samples the service's outgoing TCP
connections from ``/proc``. It fails if any of them goes to a provider host, or if a
kind listed in ``expect`` was not recorded in the environment's outbox (the guard in
``stageline.runtime`` did not do its job). The outbox is where the service writes
(``STAGELINE_OUTBOX``): ``envs/<env>/outbox.jsonl``, or the file or ``postgresql://`` URL
the environment's ``vars`` name::

    [environments.staging.gates.no-real-payments]
    kind = "side-effects"
    providers = ["api.stripe.com:443", "smtp.sendgrid.net"]
    expect = ["payments", "email"]
    steps = [{ method = "POST", path = "/orders", json = { ... }, expect_status = 201 }]

In production the gate passes at once: that is where side effects are meant to happen.
Sampling every ``sample_ms`` catches any connection that stays open that long, which a
TLS handshake to a real provider always does.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from stageline.gates.base import GateContext, GateOptions, GateResult
from stageline.gates.http import HttpGate, HttpOptions, Step
from stageline.host.outbox import read_outbox
from stageline.host.procfs import connections, listening_pids


class SideEffectsOptions(GateOptions):
    #: provider endpoints the service must not reach here: "host:port", or "host" (any port)
    providers: list[str] = Field(min_length=1)
    #: side-effect kinds that must be recorded in the outbox during the steps
    expect: list[str] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    sample_ms: int = Field(default=10, ge=1, le=1000)


def _endpoints(providers: list[str]) -> dict[tuple[str, int | None], str]:
    """Resolved (address, port or None) -> the provider as written."""
    found: dict[tuple[str, int | None], str] = {}
    for provider in providers:
        host, _, port_text = provider.rpartition(":") if ":" in provider else (provider, "", "")
        port = int(port_text) if port_text.isdigit() else None
        try:
            infos = socket.getaddrinfo(host, port or 0, proto=socket.IPPROTO_TCP)
        except OSError:
            continue  # a name that does not resolve here cannot be reached either
        for info in infos:
            found[(str(info[4][0]), port)] = provider
    return found


class _Sampler(threading.Thread):
    """Watches ``pids`` for connections to any of ``endpoints`` until stopped."""

    def __init__(self, pids: set[int], endpoints: dict[tuple[str, int | None], str], every: float):
        super().__init__(daemon=True)
        self.pids, self.endpoints, self.every = pids, endpoints, every
        self.seen: dict[tuple[int, str, int], str] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for pid, (address, port) in connections(self.pids):
                provider = self.endpoints.get((address, port)) or self.endpoints.get(
                    (address, None)
                )
                if provider:
                    self.seen[(pid, address, port)] = provider
            self.samples += 1
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _service_pids(ctx: GateContext) -> set[int]:
    """The service's own processes on this host: behind a front (blue/green, swarm) those
    listening on the copies' or tasks' ports; else (or when none of them runs here: swarm
    tasks on other nodes) those listening on the port of the environment's URL."""
    ports = ctx.targets.serving_ports(ctx.environment.name)
    found = {pid for port in ports for pid in listening_pids(port)}
    return found or listening_pids(urlsplit(ctx.url).port or 80)


class SideEffectsGate:
    Options = SideEffectsOptions

    def run(self, ctx: GateContext, options: SideEffectsOptions) -> GateResult:
        opts = SideEffectsOptions.model_validate(options)
        started = time.monotonic()
        if ctx.environment.tier.value == "production":
            return GateResult("passed", "production performs side effects for real", 0.0)
        outbox = ctx.variables.get("STAGELINE_OUTBOX", "")  # a file, or a database
        before = len(read_outbox(outbox))
        pids = _service_pids(ctx)
        if not pids:
            port = urlsplit(ctx.url).port or 80
            return GateResult("error", f"no process listens on port {port}", 0.0)
        sampler = _Sampler(pids, _endpoints(opts.providers), opts.sample_ms / 1000)
        sampler.start()
        try:
            trigger = HttpGate().run(ctx, HttpOptions(steps=opts.steps))
        finally:
            sampler.stop()
        recorded = read_outbox(outbox)[before:]
        evidence: dict[str, Any] = {
            "service_pids": sorted(pids),
            "samples": sampler.samples,
            "connections_to_providers": [
                {"pid": pid, "address": f"{address}:{port}", "provider": provider}
                for (pid, address, port), provider in sampler.seen.items()
            ],
            "outbox_records": recorded,
            "requests": trigger.evidence.get("requests", []),
        }
        problems = [
            f"the service connected to {provider} ({address}:{port})"
            for (_pid, address, port), provider in sampler.seen.items()
        ]
        kinds = {record.get("kind") for record in recorded}
        problems += [
            f"no {kind!r} record reached the outbox" for kind in opts.expect if kind not in kinds
        ]
        if trigger.status != "passed":
            problems.append(trigger.summary)
        duration = time.monotonic() - started
        if problems:
            return GateResult("failed", "; ".join(problems), duration, evidence)
        summary = (
            f"{len(recorded)} side effect(s) recorded, none performed; "
            f"no connection to {', '.join(opts.providers)}"
        )
        return GateResult("passed", summary, duration, evidence)
