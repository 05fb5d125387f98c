"""The side-effects gate against real processes: a service that records, one that leaks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from stageline.gates.side_effects import SideEffectsGate, SideEffectsOptions
from tests.gates.conftest import MakeContext

SERVICE = Path(__file__).with_name("effects_service.py")


@pytest.fixture
def provider() -> Iterator[tuple[str, list[int]]]:
    """A stand-in payment provider on 127.0.0.1 that counts the connections it accepts and,
    like a real one, keeps each open while it reads and answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    def hold(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                conn.recv(1024)
                time.sleep(0.5)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()


@dataclass(frozen=True)
class Behind:
    """The targets view of an environment whose front forwards to the service's port."""

    port: int

    def serving_ports(self, environment: str) -> tuple[int, ...]:
        return (self.port,)


@contextlib.contextmanager
def front_to(port: int) -> Iterator[str]:
    """A stand-in front on 127.0.0.1 (in this process) forwarding GET and POST to ``port``."""

    class Forward(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"] or 0))
            url = f"http://127.0.0.1:{port}{self.path}"
            answer = httpx.request(self.command, url, content=body, timeout=10, trust_env=False)
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_gate(
    mode: str, provider: str, outbox: Path, make_context: MakeContext, *, front: bool = False
) -> object:
    process = subprocess.Popen(
        [sys.executable, str(SERVICE)],
        stdout=subprocess.PIPE,
        env={**os.environ, "MODE": mode, "PROVIDER": provider, "STAGELINE_OUTBOX": str(outbox)},
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        if front:
            with front_to(port) as url:
                ctx = make_context(
                    url, variables={"STAGELINE_OUTBOX": str(outbox)}, targets=Behind(port)
                )
                return _run(ctx, provider)
        ctx = make_context(f"http://127.0.0.1:{port}", variables={"STAGELINE_OUTBOX": str(outbox)})
        return _run(ctx, provider)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _run(ctx: object, provider: str) -> object:
    options = SideEffectsOptions.model_validate(
        {
            "providers": [provider],
            "expect": ["payments"],
            "steps": [{"method": "POST", "path": "/orders", "expect_status": 201}],
        }
    )
    return SideEffectsGate().run(ctx, options)  # type: ignore[arg-type]


def test_recorded_side_effect_passes(
    provider: tuple[str, list[int]], tmp_path: Path, make_context: MakeContext
) -> None:
    address, accepted = provider
    result = run_gate("record", address, tmp_path / "outbox.jsonl", make_context)
    assert result.status == "passed", result.summary  # type: ignore[attr-defined]
    assert accepted == []
    assert result.evidence["outbox_records"][0]["kind"] == "payments"  # type: ignore[attr-defined]


def test_a_real_call_to_the_provider_fails_the_gate(
    provider: tuple[str, list[int]], tmp_path: Path, make_context: MakeContext
) -> None:
    address, accepted = provider
    result = run_gate("leak", address, tmp_path / "outbox.jsonl", make_context)
    assert accepted == [1]
    assert result.status == "failed"  # type: ignore[attr-defined]
    assert f"the service connected to {address}" in result.summary  # type: ignore[attr-defined]
    assert "no 'payments' record reached the outbox" in result.summary  # type: ignore[attr-defined]


def test_behind_a_front_the_gate_watches_the_service_not_the_front(
    provider: tuple[str, list[int]], tmp_path: Path, make_context: MakeContext
) -> None:
    """Blue/green and swarm: the public port is the front's; the processes watched are
    the ones listening on the serving copies' (tasks') ports."""
    address, accepted = provider
    result = run_gate("leak", address, tmp_path / "outbox.jsonl", make_context, front=True)
    assert accepted == [1], result.summary  # type: ignore[attr-defined]
    assert result.status == "failed"  # type: ignore[attr-defined]
    assert f"the service connected to {address}" in result.summary  # type: ignore[attr-defined]
    assert os.getpid() not in result.evidence["service_pids"]  # type: ignore[attr-defined]


def test_production_passes_without_looking(make_context: MakeContext) -> None:
    from stageline.config.model import Environment

    production = Environment.model_validate(
        {
            "name": "production",
            "tier": "production",
            "url": "http://127.0.0.1:9",
            "target": {"port": 9},
        }
    )
    options = SideEffectsOptions.model_validate({"providers": ["127.0.0.1:9"]})
    result = SideEffectsGate().run(make_context(environment=production), options)
    assert result.status == "passed"


def test_the_gate_reads_an_outbox_kept_in_postgres(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    """An environment whose ``STAGELINE_OUTBOX`` is a database (a swarm on many nodes):
    the gate reads its records there, as from a file."""
    from stageline import runtime
    from stageline.host.outbox import read_outbox

    monkeypatch.setenv("STAGELINE_OUTBOX", postgres_url)
    monkeypatch.setenv("STAGELINE_ENVIRONMENT", "staging")
    runtime.reset()
    made = runtime.record("payments", order_id=7)
    assert [(r["id"], r["kind"]) for r in read_outbox(postgres_url)] == [(made.id, "payments")]
