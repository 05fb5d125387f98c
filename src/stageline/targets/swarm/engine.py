"""The Docker engine, through its own command-line client (``docker``): nothing else.

Every call is ``docker [-H HOST] ARGS...`` with a clean, known environment; output is
parsed from ``--format '{{json .}}'`` lines or ``inspect`` JSON. A failed call raises
:class:`EngineError` with the engine's own message (its last line) and the command's
verb, never a value passed on stdin (secrets go to the engine that way only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stageline.errors import InfrastructureError

#: the engine API version stageline speaks (Debian 12's docker.io 20.10 answers 1.41)
API_VERSION = "1.41"


class EngineError(InfrastructureError):
    """The container engine refused or failed a command."""


@dataclass(frozen=True)
class Engine:
    """One Docker engine, reached at ``host`` (``unix:///path`` or None: the default)."""

    host: str | None = None

    def argv(self, args: Sequence[str]) -> list[str]:
        binary = shutil.which("docker")
        if binary is None:
            raise EngineError(
                "the `docker` command is not installed",
                hint="install Docker's client (Debian: apt-get install docker.io)",
            )
        return [binary, *(["-H", self.host] if self.host else []), *args]

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "TMPDIR", "DOCKER_HOST", "DOCKER_CONFIG",
                "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT")  # fmt: skip
        found = {k: v for k, v in os.environ.items() if k in keep}
        found["DOCKER_API_VERSION"] = os.environ.get("DOCKER_API_VERSION", API_VERSION)
        found["DOCKER_CLI_HINTS"] = "false"
        return found

    def run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float = 600,
        merged: bool = False,
    ) -> str:
        """stdout of ``docker ARGS`` (with ``merged``, stdout and stderr as one stream:
        ``service logs`` gives the tasks' stderr on its own); EngineError with the
        engine's message on failure."""
        try:
            done = subprocess.run(
                self.argv(args),
                input=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                timeout=timeout,
                env=self.env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EngineError(f"`docker {args[0]}` took longer than {timeout:g}s") from None
        if done.returncode != 0:
            said = done.stdout if merged else done.stderr
            lines = said.decode(errors="replace").strip().splitlines()
            why = lines[-1] if lines else f"exit code {done.returncode}"
            where = f" at {self.host}" if self.host else ""
            raise EngineError(
                f"`docker {' '.join(args[:2])}` failed{where}: {why}",
                hint="is the engine running, and is this node a swarm manager?",
            )
        return done.stdout.decode(errors="replace")

    def lines(self, args: Sequence[str]) -> list[dict[str, Any]]:
        """One JSON object per output line (``--format '{{json .}}'`` listings)."""
        out = self.run([*args, "--format", "{{json .}}"])
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def inspect(self, kind: str, *names: str) -> list[dict[str, Any]]:
        """``docker KIND inspect NAMES`` as parsed JSON; [] if none of them exists."""
        try:
            found = json.loads(self.run([kind, "inspect", *names]) or "[]")
        except EngineError as exc:
            if "no such" in str(exc).lower() or "not found" in str(exc).lower():
                return []
            raise
        assert isinstance(found, list)
        return found

    def reachable(self) -> bool:
        try:
            self.run(["version", "--format", "{{.Server.Version}}"], timeout=20)
        except EngineError:
            return False
        return True
