"""The front's limits and the bounded logs, piece by piece (real sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path

import pytest

from stageline.agent.proxy import CountedLog, Limits, Proxy, TokenBucket
from stageline.agent.state import LOG_BACKUPS, log_to
from stageline.agent.supervisor import read_log_tail, rotate_service_log

from .helpers import free_port


def test_the_accept_budget_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    start = bucket._at
    assert [bucket.take(start), bucket.take(start)] == [0.0, 0.0]
    assert bucket.take(start) == pytest.approx(0.1)
    assert bucket.take(start + 0.1) == 0.0
    assert bucket.take(start + 100) == 0.0 and bucket.take(start + 100) == 0.0
    assert bucket.take(start + 100) > 0  # no more than the burst saved up


def test_refusals_are_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted = CountedLog("refused %d in %.0fs", interval=10)
    now = time.monotonic()
    with caplog.at_level(logging.WARNING):
        for i in range(10_000):
            counted.note(now + i * 0.0001)
        assert caplog.records == []
        counted.note(now + 11)
    assert [r.getMessage() for r in caplog.records] == ["refused 10001 in 11s"]
    assert counted.total == 10_001


def test_a_service_log_is_copied_and_truncated_past_its_size(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    with log.open("ab") as service:  # the service's own descriptor, append mode
        for round_ in range(LOG_BACKUPS + 2):
            service.write(f"round {round_}\n".encode() * 200)
            service.flush()
            assert rotate_service_log(log, max_bytes=1000)
            assert not rotate_service_log(log, max_bytes=1000)
        service.write(b"after\n")
        service.flush()
    assert log.read_bytes() == b"after\n"  # appended at the new end, no hole
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["service.log", *(f"service.log.{n}" for n in range(1, LOG_BACKUPS + 1))]
    assert (tmp_path / "service.log.1").read_text().startswith(f"round {LOG_BACKUPS + 1}")
    assert read_log_tail(log, offset=5000) == "after"  # an offset from before the rotation


def test_the_agent_and_front_logs_rotate(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        log_to(tmp_path / "front.log", max_bytes=2000)
        for i in range(500):
            logging.getLogger("stageline.agent").info("line %d %s", i, "x" * 40)
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = saved[0], saved[1]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["front.log", *(f"front.log.{n}" for n in range(1, LOG_BACKUPS + 1))]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def _with_proxy(limits: Limits, body: object, kind: type[Proxy] = Proxy) -> None:
    async def run() -> None:
        proxy = kind("127.0.0.1", free_port(), limits)
        await proxy.start()
        try:
            await asyncio.to_thread(body, proxy)  # type: ignore[arg-type]
        finally:
            await proxy.close()

    asyncio.run(run())


def test_a_request_head_that_never_ends_is_cut_off_after_the_header_timeout() -> None:
    def check(proxy: Proxy) -> None:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            assert sock.recv(100) == b""  # closed, no answer
            assert 0.2 < time.monotonic() - started < 3

    _with_proxy(Limits(header_timeout=0.3), check)


def test_connections_over_the_cap_are_refused_and_counted() -> None:
    def check(proxy: Proxy) -> None:
        held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=5) for _ in range(2)]
        deadline = time.monotonic() + 5
        while proxy.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # the refusal is a reset: it may come while connecting (a busy host) or after
        with pytest.raises(ConnectionResetError):
            extra = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
            with extra:
                extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                extra.recv(100)
        assert proxy.refused.total == 1 and proxy.connections == 2
        for sock in held:
            sock.close()

    _with_proxy(Limits(max_connections=2, header_timeout=5), check)


def test_no_release_means_503_not_a_hang() -> None:
    def check(proxy: Proxy) -> None:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 503")

    _with_proxy(Limits(), check)


def test_answers_go_out_without_waiting_for_the_clients_ack() -> None:
    """TCP_NODELAY on every accepted connection: without it, Nagle's algorithm holds an
    answer's second write until the client acknowledges the first, which a keep-alive
    client delays by ~40 ms (delayed ACK), on every request."""
    nodelay: list[int] = []

    class Watched(Proxy):
        async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            await super()._serve(reader, writer)

    def check(proxy: Proxy) -> None:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 503")
        assert len(nodelay) == 1 and nodelay[0] != 0

    _with_proxy(Limits(), check, Watched)
