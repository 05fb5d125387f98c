"""After a switch, a deploy is healthy only if the public port answers: the check itself."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stageline.targets.local import public_answer_problem


class Answer(BaseHTTPRequestHandler):
    status = 503

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    Answer.status = 503


def test_an_answer_other_than_200_is_the_problem(server: ThreadingHTTPServer) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    assert public_answer_problem(url, timeout=0.5) == "HTTP 503"
    Answer.status = 200
    assert public_answer_problem(url, timeout=0.5) is None


def test_a_closed_port_is_the_problem() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    port = httpd.server_address[1]
    httpd.server_close()
    problem = public_answer_problem(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
    assert problem is not None and problem.startswith("ConnectError")
