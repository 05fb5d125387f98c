"""What recording the traffic profile costs the proxy's hot path.

Run: .venv/bin/python bench/traffic.py [--requests 20000] [--quick]

In one run, side by side: a child process serves a trivial backend and two real
``stageline.agent.proxy.Proxy`` instances in front of it, one recording the traffic
profile (``proxy.recorder``, as a front of an environment that records) and one not.
This process sends sequential keep-alive requests, alternating between the two proxies
(so both see the same machine at the same moments), each to a path never seen before
(``/orders/<n>?token=<n>``: the recorder's route cache misses every time, its worst
case). Printed: the median and p90 latency through each proxy and the difference of the
medians (what recording adds; the aim is under 0.05 ms). The proxy records a request
after its response's last byte is written, so a client does not wait for it: what it
costs is the front's time, which bounds its throughput. That is the last figure: the
recorder alone, ``Recorder.record`` called in a loop, microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _quick import parse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stageline.agent.proxy import Backends, Proxy
from stageline.traffic.recorder import Exchange, Recorder

BODY = b'{"ok": true}'
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
WARM_UP = 200


# -- the child: a backend and two proxies --------------------------------------------------


async def _backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the proxy went away, or the bench is over
    finally:
        writer.close()


async def serve(backend: int, plain: int, recording: int) -> None:
    server = await asyncio.start_server(_backend, "127.0.0.1", backend)
    proxies = [Proxy("127.0.0.1", plain), Proxy("127.0.0.1", recording)]
    proxies[1].recorder = Recorder()
    for proxy in proxies:
        proxy.switch(Backends("sha256:bench", [backend]))
        await proxy.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    for proxy in proxies:
        await proxy.close()
    server.close()


# -- this process: the client ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Client:
    """One keep-alive connection, sequential requests, a fixed-size answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str) -> float:
        request = f"GET {path} HTTP/1.1\r\nhost: bench\r\ncookie: s=1\r\n\r\n".encode()
        started = time.perf_counter()
        self.sock.sendall(request)
        head = self._until(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        self._exactly(length)
        return time.perf_counter() - started

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(mark)
        return head

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the proxy closed the connection")
        self.buffer += data


def through_the_proxies(requests: int) -> tuple[list[float], list[float]]:
    backend, plain, recording = free_port(), free_port(), free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(backend), str(plain), str(recording)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        off, on = Client(plain), Client(recording)
        off_times: list[float] = []
        on_times: list[float] = []
        for i in range(requests + WARM_UP):
            path = f"/orders/{1_000_000 + i}?token={i}"
            pair = (
                ((off, off_times), (on, on_times)) if i % 2 else ((on, on_times), (off, off_times))
            )
            for client, sink in pair:
                took = client.get(path)
                if i >= WARM_UP:
                    sink.append(took)
        return off_times, on_times
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def recorder_alone(requests: int) -> float:
    """Microseconds per ``Recorder.record`` call on never-seen paths."""
    recorder = Recorder()
    targets = [f"/orders/{1_000_000 + i}?token={i}".encode() for i in range(requests)]
    exchange = Exchange(200, 0, len(BODY))
    started = time.perf_counter()
    for target in targets:
        recorder.record(b"GET", target, exchange, 1)
    return (time.perf_counter() - started) / requests * 1e6


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        backend, plain, recording = (int(p) for p in sys.argv[2:5])
        asyncio.run(serve(backend, plain, recording))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000, help="requests per proxy")
    args = parse(parser, requests=2000)
    print(f"{args.requests} sequential keep-alive requests per proxy, alternating, "
          f"each to a new path (pid {os.getpid()})", flush=True)  # fmt: skip
    off, on = through_the_proxies(args.requests)
    for name, times in (("recording off", off), ("recording on", on)):
        print(f"  {name:<14} p50 {ms(times, 0.5):.3f} ms  p90 {ms(times, 0.9):.3f} ms")
    added = statistics.median(on) * 1000 - statistics.median(off) * 1000
    print(f"  p50 added by recording: {added:.3f} ms (aim: under 0.05 ms)")
    per_call = recorder_alone(args.requests * 5)
    print(f"recorder alone: {per_call:.2f} us per request ({args.requests * 5} new paths)")


if __name__ == "__main__":
    main()
