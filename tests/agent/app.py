"""A tiny real HTTP service for the agent's tests (standard library only).

Usage: python app.py PORT. GET /healthz answers {"pid", "version"}. Options by environment:
APP_VERSION (reported), APP_EXIT_AT_START=N (exit with code N at once), APP_HEALTH_STATUS=N
(answer N on /healthz), APP_CHILD_PIDFILE=PATH (start a `sleep` child in our process group
and write its pid there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(os.environ.get("APP_HEALTH_STATUS", "200")) if self.path == "/healthz" else 200
        body = json.dumps({"pid": os.getpid(), "version": os.environ.get("APP_VERSION", "")})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    if "APP_EXIT_AT_START" in os.environ:
        print("app: exiting at start as asked", flush=True)
        sys.exit(int(os.environ["APP_EXIT_AT_START"]))
    if "APP_CHILD_PIDFILE" in os.environ:
        child = subprocess.Popen(["sleep", "300"])
        with open(os.environ["APP_CHILD_PIDFILE"], "w") as f:
            f.write(str(child.pid))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"app: pid {os.getpid()} listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
