"""A swarm environment's front records its traffic where ``local``'s does: a real front
process (no engine needed: it forwards to a plain HTTP server standing in for a task),
its profile written to ``envs/<env>/traffic/`` when a command asks (``flush``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from stageline.agent.front import flush
from stageline.services.postgres import free_port
from stageline.targets.swarm.front import SwarmFront
from stageline.traffic.minutes import build_profile
from stageline.traffic.store import TrafficStore, traffic_dir


class _Task(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


@pytest.fixture
def task_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Task)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def front_of(home: Path, record: bool) -> SwarmFront:
    return SwarmFront(
        home / "envs" / "production" / "swarm", "production", "127.0.0.1", free_port(), home,
        traffic=traffic_dir(home, "production"), record_traffic=record,
    )  # fmt: skip


def test_a_swarm_front_records_the_environments_traffic_where_local_does(
    tmp_path: Path, task_port: int
) -> None:
    front = front_of(tmp_path, record=True)
    assert not flush(front.paths, "production")  # no front runs yet: nothing answers
    try:
        front.route("sha256:" + "a" * 64, (("127.0.0.1", task_port),))
        for number in range(7):
            url = f"http://127.0.0.1:{front.port}/orders/{1000 + number}"
            assert httpx.get(url, trust_env=False, timeout=10).status_code == 200
        assert flush(front.paths, "production")
    finally:
        front.stop()
    now = datetime.now(UTC)
    records = TrafficStore(traffic_dir(tmp_path, "production")).read(
        now - timedelta(minutes=5), now + timedelta(minutes=1)
    )
    profile = build_profile("production", now - timedelta(minutes=5), now, records)
    assert {r.route: r.count for r in profile.routes} == {"GET /orders/{id}": 7}
    assert not (front.folder / "envs").exists()  # nothing under the front's own folder


def test_a_swarm_front_that_does_not_record_writes_no_profile(
    tmp_path: Path, task_port: int
) -> None:
    front = front_of(tmp_path, record=False)
    try:
        front.route("sha256:" + "b" * 64, (("127.0.0.1", task_port),))
        url = f"http://127.0.0.1:{front.port}/orders/1"
        assert httpx.get(url, trust_env=False, timeout=10).status_code == 200
        assert flush(front.paths, "production")
    finally:
        front.stop()
    folder = traffic_dir(tmp_path, "production")
    assert not folder.exists() or not any(folder.iterdir())
