"""Open idle, half-sent connections to a port and hold them (standard library only).

Usage: python flood.py PORT COUNT. Raises its open-file limit to the hard limit, opens up
to COUNT non-blocking connections to 127.0.0.1:PORT, sends each one that connects the
start of a request line and nothing more, prints ``ready OPENED SENT`` and holds every
socket until its stdin closes.
"""

from __future__ import annotations

import resource
import selectors
import socket
import sys
import time

PARTIAL = b"GET / HTTP/1.1\r\nHost: flood\r\n"  # no blank line: the head never ends


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    selector = selectors.DefaultSelector()
    held = []
    for _ in range(count):
        try:
            sock = socket.socket()
        except OSError:  # out of file descriptors: hold what we have
            break
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        held.append(sock)
        selector.register(sock, selectors.EVENT_WRITE)
    sent, deadline = 0, time.monotonic() + 2  # the rest wait in a full accept queue
    while selector.get_map() and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            selector.unregister(sock)
            try:
                sock.send(PARTIAL)
                sent += 1
            except OSError:
                pass
    print(f"ready {len(held)} {sent}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
