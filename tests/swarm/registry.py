"""Debian's ``docker-registry`` on a free port of 127.0.0.1, its storage in a temporary
folder; stopped (by pid) and removed after."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from stageline.services.postgres import free_port

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@contextlib.contextmanager
def local_registry() -> Iterator[str]:
    """``127.0.0.1:PORT`` of a running registry (the engine trusts 127.0.0.0/8 without TLS)."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed: apt-get install docker-registry"
    folder = Path(tempfile.mkdtemp(prefix="stageline-registry-"))
    port = free_port()
    (folder / "config.yml").write_text(CONFIG.format(root=folder / "data", port=port))
    with open(folder / "registry.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, (
                folder / "registry.log"
            ).read_text()
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
