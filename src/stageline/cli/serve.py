"""serve: the dashboard and JSON API (stageline.web) over HTTP."""

from __future__ import annotations

import errno
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from stageline.cli.app import DirOption
from stageline.errors import InfrastructureError, UsageError
from stageline.web import create_app


def _bind(host: str, port: int) -> socket.socket:
    """Listen before announcing, so whoever waits for the line can connect at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says it is TCP; without it Nagle + delayed ACK add ~40 ms a request
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise InfrastructureError(
                f"port {port} on {host} is already in use", hint="pick another with --port"
            ) from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    directory: DirOption = Path("."),
    host: Annotated[
        str, typer.Option(help="Address to listen on (anything but loopback is reachable).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free one).")] = 8600,
) -> int:
    """Serve the dashboard: the pipeline, releases, history, metrics, sign-off and the API."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", hint="use 1-65535, or 0 for any")
    app = create_app(directory.resolve(), host=host)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # handler it found: make that one a no-op, so a requested stop exits 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    print(f"serving http://{shown}:{bound}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
