"""The test service's web process: jobs in through Redis, files into its uploads folder."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import resp

VERSION = "one"


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, data: object) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._send(200, {"version": VERSION})
        elif path == "/done":
            self._send(200, resp.connect().call("LRANGE", "done", "0", "-1"))
        elif path == "/uploads":
            self._send(200, sorted(p.name for p in Path("uploads").iterdir()))
        else:
            self._send(404, {})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/jobs":
            self._send(202, resp.connect().call("LPUSH", "jobs", query["text"]))
        elif url.path == "/upload":
            (Path("uploads") / query["name"]).write_text(VERSION)
            self._send(201, {})
        else:
            self._send(404, {})

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    print("web", VERSION, os.getpid(), flush=True)
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
