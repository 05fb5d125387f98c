"""The ``load`` gate's sides: start a release, wait for its health, load one round of it.

:func:`started` starts a release with ``ctx.spawn`` (its own process group, which the
runner kills at the gate's deadline) on a free port of 127.0.0.1, waits for its health
check and stops it when the block ends; :class:`NotStarted` says why it could not (its
log's last line). :func:`loaded` sends one round of the schedule to a started release
while ``load.measure.Sampler`` watches its processes and the host.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from stageline.gates.base import GateContext, Runnable, one_line, tail
from stageline.host.procfs import group_members
from stageline.load.generator import Run, drive
from stageline.load.measure import Sampler, Usage
from stageline.load.schedule import Job
from stageline.services.postgres import free_port


class NotStarted(Exception):
    """A release did not start or answer its health check (the message says which)."""


@dataclass(frozen=True)
class Started:
    """A release running for the gate: its label, port and process group."""

    label: str
    port: int
    pgid: int


@contextlib.contextmanager
def started(
    ctx: GateContext,
    label: str,
    release: Runnable,
    workdir: Path,
    variables: Mapping[str, str],
    application: str,
) -> Iterator[Started]:
    """``release`` run from ``workdir`` with ``variables`` until the block ends."""
    port = free_port()
    name = label.split(" ")[0]
    env = {
        **release.environ(), **variables, "PORT": str(port), "PGAPPNAME": application,
        # what its side-effect guard records goes beside the evidence, not in the outbox
        # of the environment (the side-effects gate reads that one)
        "STAGELINE_OUTBOX": str(ctx.evidence_dir / f"{name}-outbox.jsonl"),
    }  # fmt: skip
    log = ctx.evidence_dir / f"{name}.log"
    ctx.log(f"starting the {label} on 127.0.0.1:{port}")
    try:
        proc = ctx.spawn(release.argv(port), cwd=workdir, env=env, log=log)
    except OSError as exc:
        raise NotStarted(f"the {label} could not be started: {exc}") from exc
    if proc is None:
        raise NotStarted(f"the gate was stopped before the {label} started")
    try:
        problem = _healthy(ctx, port, release.health_path, proc.poll)
        if problem:
            said = one_line(tail(log.read_text(encoding="utf-8", errors="replace"), 1))
            raise NotStarted(
                f"the {label} did not start: {problem}" + (f" (its log: {said})" if said else "")
            )
        yield Started(label, port, proc.pid)
    finally:
        ctx.stop(proc)


def loaded(
    ctx: GateContext, side: Started, jobs: Sequence[Job], max_connections: int, timeout: float
) -> tuple[Run, Usage]:
    """One round of ``jobs`` against ``side``, with its processes' and the host's usage;
    a request not answered ``timeout`` seconds after it was due is an error."""
    timeout = max(0.5, min(timeout, ctx.remaining() / 4))
    with Sampler(lambda: group_members({side.pgid})) as sampler:
        run = drive("127.0.0.1", side.port, jobs, max_connections=max_connections, timeout=timeout)
    return run, sampler.usage


def _healthy(ctx: GateContext, port: int, path: str, poll: Callable[[], int | None]) -> str | None:
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
