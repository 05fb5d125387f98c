"""A stand-in service for the side-effects gate's tests (standard library only).

POST /orders either records a "payments" record in the outbox (MODE=record) or really
calls the payment provider at PROVIDER (MODE=leak), holding the connection a moment as a
TLS handshake would. Prints its port on start.
"""

from __future__ import annotations

import json
import os
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        if os.environ["MODE"] == "leak":
            host, port = os.environ["PROVIDER"].split(":")
            with socket.create_connection((host, int(port))) as conn:
                conn.sendall(b"POST /charges HTTP/1.0\r\n\r\n")
                time.sleep(0.2)
        else:
            with open(os.environ["STAGELINE_OUTBOX"], "a") as outbox:
                outbox.write(json.dumps({"kind": "payments", "args": {"amount": 1200}}) + "\n")
        self._answer(201, {"id": 1})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
