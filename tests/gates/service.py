"""A tiny HTTP service for the gates' tests (standard library only).

Binds 127.0.0.1 on a free port and prints the port on its first line of output.
``HEALTHY_AFTER=N`` makes the first N health checks answer 503. ``/register`` and
``/signin`` take form bodies, as a real sign-up and sign-in do: an email registers once,
signing in needs :data:`PASSWORD` and sets a session cookie that ``/account`` requires.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ORDERS: dict[int, dict[str, Any]] = {}
LOCK = threading.Lock()
HEALTH_CHECKS = [0]
HEALTHY_AFTER = int(os.environ.get("HEALTHY_AFTER", "0"))
TOKEN = secrets.token_hex(16)
PASSWORD = "correct-horse-battery"  # what the gate's tests hold as a secret
USERS: set[str] = set()
SESSIONS: dict[str, str] = {}  # session cookie -> email


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            with LOCK:
                HEALTH_CHECKS[0] += 1
                healthy = HEALTH_CHECKS[0] > HEALTHY_AFTER
            self.reply(200 if healthy else 503, {"status": "ok" if healthy else "starting"})
        elif url.path == "/products":
            items = [{"sku": "TEA-001", "price": 4.5}, {"sku": "MUG-002", "price": 9}]
            self.reply(200, {"items": items, "count": 2}, {"X-Service": "shop"})
        elif url.path == "/boom":
            self.reply(500, {"error": "boom"})
        elif url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["0"])[0]) / 1000)
            self.reply(200, {"slow": True})
        elif url.path == "/env":
            self.reply(200, {"app_env": os.environ.get("APP_ENV")})
        elif url.path == "/me":
            signed_in = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self.reply(200 if signed_in else 401, {"user": "ana" if signed_in else None})
        elif url.path == "/account":
            session = (self.headers.get("Cookie") or "").removeprefix("session=")
            email = SESSIONS.get(session)
            key = secrets.token_hex(12)  # a credential the page shows, as API key pages do
            self.reply(200 if email else 401, {"email": email, "api_key": key, "echo": key})
        elif url.path.startswith("/orders/"):
            with LOCK:
                order = ORDERS.get(int(url.path.rsplit("/", 1)[1]))
            self.reply(200 if order else 404, order or {"error": "no such order"})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path == "/login":  # a session token and a cookie, as real services give
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.reply(200, {"access_token": TOKEN}, {"Set-Cookie": f"sid={TOKEN}; HttpOnly"})
            return
        if self.path in ("/register", "/signin"):
            self.form(self.path)
            return
        if self.path != "/orders":
            self.reply(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        with LOCK:
            order = {"id": len(ORDERS) + 1, "sku": body.get("sku"), "status": "new"}
            ORDERS[order["id"]] = order
        self.reply(201, order)

    def form(self, path: str) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        email, password = fields.get("email", ""), fields.get("password")
        with LOCK:
            if path == "/register":
                fresh = email not in USERS and password == PASSWORD
                USERS.add(email)
                self.reply(201 if fresh else 409, {"registered": fresh})
            elif email in USERS and password == PASSWORD:
                session = secrets.token_hex(16)
                SESSIONS[session] = email
                self.reply(303, {}, {"Set-Cookie": f"session={session}", "Location": "/account"})
            else:
                self.reply(403, {"error": "wrong email or password"})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
