"""A few Redis commands over a raw socket (RESP2), so the test service needs no package."""

from __future__ import annotations

import os
import socket
from urllib.parse import unquote, urlsplit


class Redis:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.file = self.sock.makefile("rb")
        if parts.password:
            self.call("AUTH", unquote(parts.password))

    def call(self, *args: str) -> object:
        data = b"*%d\r\n" % len(args)
        for arg in args:
            raw = arg.encode()
            data += b"$%d\r\n%s\r\n" % (len(raw), raw)
        self.sock.sendall(data)
        return self._reply()

    def _reply(self) -> object:
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self.file.read(size + 2)[:-2].decode()
        count = int(rest)
        return None if count < 0 else [self._reply() for _ in range(count)]


def connect() -> Redis:
    return Redis(os.environ["JOBS_REDIS"])
