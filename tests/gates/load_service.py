"""A small shop-like HTTP service for the load gate's tests and bench (standard library).

``load_service.py PORT [--delay PREFIX=MS] [--serial-ms MS]``: answers ``/healthz``,
``/products``, ``GET /orders/N`` and ``POST /orders`` on 127.0.0.1:PORT over HTTP/1.1
keep-alive, one thread per connection. ``--delay /orders/=20`` adds 20 ms to every GET
whose path starts with ``/orders/`` (the regression the gate must catch); ``--serial-ms
50`` answers one request at a time, each taking 50 ms (a service that cannot absorb the
rate: at most 20 req/s).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, ClassVar

ORDERS: dict[int, dict[str, Any]] = {i: {"id": i, "sku": "TEA-001"} for i in range(1, 200)}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    delays: ClassVar[dict[str, float]] = {}
    serial = 0.0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _pause(self) -> None:
        if self.serial:
            time.sleep(self.serial)
        for prefix, seconds in self.delays.items():
            if self.command == "GET" and self.path.startswith(prefix):
                time.sleep(seconds)

    def do_GET(self) -> None:
        self._pause()
        if self.path == "/healthz":
            self.reply(200, {"status": "ok"})
        elif self.path == "/products":
            self.reply(200, [{"sku": "TEA-001"}, {"sku": "MUG-CLASSIC"}])
        elif self.path.startswith("/orders/") and self.path[8:].isdigit():
            order = ORDERS.get(int(self.path[8:]))
            self.reply(200 if order else 404, order or {"detail": "not found"})
        else:
            self.reply(404, {"detail": "not found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._pause()
        with LOCK:
            number = len(ORDERS) + 1
            ORDERS[number] = {"id": number, **json.loads(body or b"{}")}
        self.reply(201, ORDERS[number])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--delay", action="append", default=[])
    parser.add_argument("--serial-ms", type=float, default=0.0)
    args = parser.parse_args()
    Handler.delays = {
        prefix: float(ms) / 1000 for prefix, ms in (item.split("=") for item in args.delay)
    }
    Handler.serial = args.serial_ms / 1000
    kind = HTTPServer if args.serial_ms else ThreadingHTTPServer
    kind.allow_reuse_address = True
    server = kind(("127.0.0.1", args.port), Handler)
    if isinstance(server, ThreadingHTTPServer):
        server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
