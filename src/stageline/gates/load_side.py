"""One side of the ``load`` gate's A/B: start a release, wait for health, warm it, load it.

:func:`run_side` starts the release with ``ctx.spawn`` (its own process group, which the
runner kills at the gate's deadline) on a free port of 127.0.0.1, waits for its health
check, sends the warm-up schedule (not measured), then the measured schedule while
``load.measure.Sampler`` watches the service's processes and the host, and stops it.
It returns the side's :class:`~stageline.load.judge.Side`, or one line saying why the
release could not be loaded (it did not start; its log's last line).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from stageline.gates.base import GateContext, Runnable, one_line, tail
from stageline.host.procfs import group_members
from stageline.load.generator import drive
from stageline.load.judge import Side, summarize
from stageline.load.measure import Sampler
from stageline.load.schedule import Job
from stageline.services.postgres import free_port

if TYPE_CHECKING:
    from stageline.gates.load import LoadOptions


def run_side(
    ctx: GateContext,
    label: str,
    release: Runnable,
    workdir: Path,
    variables: Mapping[str, str],
    jobs: Sequence[Job],
    warm: Sequence[Job],
    rate: float,
    opts: LoadOptions,
    application: str,
) -> Side | str:
    """``release`` run from ``workdir`` with ``variables`` and loaded (see the module)."""
    port = free_port()
    env = {**release.environ(), **variables, "PORT": str(port), "PGAPPNAME": application}
    log = ctx.evidence_dir / f"{label.split(' ')[0]}.log"
    ctx.log(f"starting the {label} on 127.0.0.1:{port}")
    try:
        proc = ctx.spawn(release.argv(port), cwd=workdir, env=env, log=log)
    except OSError as exc:
        return f"the {label} could not be started: {exc}"
    if proc is None:
        return f"the gate was stopped before the {label} started"
    try:
        problem = _healthy(ctx, port, release.health_path, proc.poll)
        if problem:
            said = one_line(tail(log.read_text(encoding="utf-8", errors="replace"), 1))
            return f"the {label} did not start: {problem}" + (f" (its log: {said})" if said else "")
        timeout = max(1.0, min(10.0, ctx.remaining() / 4))
        if warm:
            drive("127.0.0.1", port, warm, max_connections=opts.max_connections, timeout=timeout)
        ctx.log(f"loading the {label}: {len(jobs)} requests at {rate:.1f} req/s")
        with Sampler(lambda: group_members({proc.pid})) as sampler:
            run = drive(
                "127.0.0.1", port, jobs, max_connections=opts.max_connections, timeout=timeout
            )
        return summarize(label, run, sampler.usage, rate=rate, duration=opts.duration)
    finally:
        ctx.stop(proc)


def _healthy(
    ctx: GateContext, port: int, path: str, poll: Callable[[], int | None]
) -> str | None:
    """Poll ``path`` until 200; a reason when the process exited or time ran out."""
    limit = time.monotonic() + min(float(ctx.environment.health_timeout), ctx.remaining())
    last = "no answer"
    while time.monotonic() < limit:
        code = poll()
        if code is not None:
            return f"it exited with code {code}"
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0, trust_env=False)
            if response.status_code == 200:
                return None
            last = f"status {response.status_code}"
        except httpx.HTTPError as exc:
            last = one_line(str(exc)) or type(exc).__name__
        time.sleep(0.1)
    return f"its health check GET {path} never answered 200 (last: {last})"
