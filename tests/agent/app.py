"""A tiny real HTTP service for the agent's tests (standard library only).

Usage: python app.py PORT. HTTP/1.1 with keep-alive. GET /healthz answers {"pid",
"version"}; so does any other path, except GET /slow?seconds=S (answers after S seconds),
GET /headers (the request's headers), GET /stream (a chunked response of 5 chunks) and
POST /echo (the body back).

Options by environment: APP_VERSION (reported), APP_EXIT_AT_START=N (exit with code N at
once), APP_HEALTH_STATUS=N (answer N on /healthz), APP_CHILD_PIDFILE=PATH (start a
`sleep` child in our process group and write its pid there), APP_EXIT_AFTER=S (exit with
code 7 S seconds after start), APP_REQUEST_LOG=PATH (append "pid method path" for every
request other than /healthz), APP_HEALTH_AFTER=S with APP_HEALTH_DELAY=D (from S seconds
after start, /healthz answers only after D seconds) and/or APP_HEALTH_STATUS_AFTER=N (from
S seconds after start, /healthz answers N), APP_START_ONCE=PATH (exit with code 5 at start
if PATH exists, else create it: a release that cannot start a second time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as real servers do: no 40 ms delayed-ACK stalls

    def _log_request(self) -> None:
        path = os.environ.get("APP_REQUEST_LOG")
        if path and not self.path.startswith("/healthz"):
            with open(path, "a") as f:
                f.write(f"{os.getpid()} {self.command} {self.path}\n")

    def _json(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._log_request()
        url = urlsplit(self.path)
        me = {"pid": os.getpid(), "version": os.environ.get("APP_VERSION", "")}
        if url.path == "/slow":
            time.sleep(float(parse_qs(url.query).get("seconds", ["1"])[0]))
            self._json(200, me)
        elif url.path == "/headers":
            self._json(200, {k.lower(): v for k, v in self.headers.items()})
        elif url.path == "/stream":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(5):
                chunk = f"chunk {i}\n".encode()
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        else:
            status = 200
            if url.path == "/healthz":
                status = int(os.environ.get("APP_HEALTH_STATUS", "200"))
                if time.monotonic() - STARTED >= float(os.environ.get("APP_HEALTH_AFTER", "inf")):
                    time.sleep(float(os.environ.get("APP_HEALTH_DELAY", "0")))
                    status = int(os.environ.get("APP_HEALTH_STATUS_AFTER", str(status)))
            self._json(status, me)

    def do_POST(self) -> None:
        self._log_request()
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1])
    if "APP_EXIT_AT_START" in os.environ:
        print("app: exiting at start as asked", flush=True)
        sys.exit(int(os.environ["APP_EXIT_AT_START"]))
    once = os.environ.get("APP_START_ONCE")
    if once is not None:
        if os.path.exists(once):
            print("app: started once already", flush=True)
            sys.exit(5)
        open(once, "w").close()
    if "APP_CHILD_PIDFILE" in os.environ:
        child = subprocess.Popen(["sleep", "300"])
        with open(os.environ["APP_CHILD_PIDFILE"], "w") as f:
            f.write(str(child.pid))
    if "APP_EXIT_AFTER" in os.environ:
        delay = float(os.environ["APP_EXIT_AFTER"])

        def leave() -> None:
            time.sleep(delay)
            print(f"app: exiting after {delay}s as asked", flush=True)
            os._exit(7)

        threading.Thread(target=leave, daemon=True).start()
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"app: pid {os.getpid()} listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
