"""Preparing a release yields the CPU to what serves; nothing long-lived inherits that.

The deploy command used to lower its own priority (``os.nice(10)``), and everything it
started inherited it: the agent, and through it the proxies and every service, and the
environments' PostgreSQL servers. A process that is not root cannot raise its priority
back, so restoring it in the children is no answer. Instead the command keeps its own
priority and lowers only the work of preparing a release: the child processes that build
and install (pip, uv, build steps) and the release command, each started under
``nice -n N``. Long-lived processes (agent, servers, services) are started at the
command's own priority. The in-process work (hashing, copying) is short and stays at it.

``yield_to_serving(n)`` is called once by the deploying commands (``STAGELINE_DEPLOY_NICE``
sets ``n``; 0 turns it off); ``lowered(argv)`` is applied where preparation work starts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

DEFAULT_INCREMENT = 10

_increment = 0


def increment_from_env(environ: dict[str, str] | None = None) -> int:
    """``STAGELINE_DEPLOY_NICE`` as an increment (default 10; 0 or less turns it off)."""
    raw = (os.environ if environ is None else environ).get("STAGELINE_DEPLOY_NICE", "")
    try:
        return int(raw) if raw.strip() else DEFAULT_INCREMENT
    except ValueError:
        return DEFAULT_INCREMENT


def yield_to_serving(increment: int) -> None:
    """From now on, preparation work in this process runs ``increment`` steps nicer."""
    global _increment
    _increment = max(0, min(increment, 19))


def lowered(argv: Sequence[str] | str) -> list[str] | str:
    """``argv`` (a list, or a shell command string) started at the lowered priority, or as
    it is when nothing is lowered or ``nice`` is not on PATH."""
    nice = shutil.which("nice") if _increment > 0 else None
    if nice is None:
        return argv if isinstance(argv, str) else list(argv)
    if isinstance(argv, str):
        return f"exec {nice} -n {_increment} /bin/sh -c {_quote(argv)}"
    return [nice, "-n", str(_increment), *argv]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
