"""Run gates in parallel, each within its timeout, and export their results.

Each gate runs in a daemon thread. A gate that has not returned by its deadline is
recorded as ``error`` and every process it started is killed; the run moves on without
it. An exception inside a gate is recorded as ``error``; it never ends the run.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stageline.config.model import Gate as GateConfig
from stageline.errors import StagelineError
from stageline.gates.base import GateContext, GateResult, one_line, tail, timed_out
from stageline.gates.registry import get_gate, parse_options
from stageline.host.procfs import group_alive

Progress = Callable[[str, GateResult | None], None]


@dataclass
class _Running:
    ctx: GateContext
    config: GateConfig
    started: float


def run_gates(
    items: list[tuple[str, GateConfig]],
    make_context: Callable[[str, GateConfig], GateContext],
    *,
    progress: Progress | None = None,
) -> dict[str, GateResult]:
    """Run every gate of ``items`` at once; results in the order of ``items``.

    ``make_context`` builds each gate's context; its ``deadline`` is replaced by now +
    the gate's ``timeout``. ``progress(name, None)`` is called when a gate starts and
    ``progress(name, result)`` when it ends, both from the calling thread.
    """
    done: queue.Queue[tuple[str, GateResult]] = queue.Queue()
    running: dict[str, _Running] = {}
    results: dict[str, GateResult] = {}

    def finish(name: str, result: GateResult) -> None:
        results[name] = result
        if progress:
            progress(name, result)

    for name, config in items:
        started = time.monotonic()
        try:
            ctx = make_context(name, config)
            ctx = dataclasses.replace(ctx, deadline=started + config.timeout)
        except Exception as exc:
            finish(name, _crashed(exc, 0.0))
            continue
        if progress:
            progress(name, None)
        running[name] = _Running(ctx, config, started)
        worker = threading.Thread(
            target=_work, args=(name, ctx, config, done), name=f"gate-{name}", daemon=True
        )
        worker.start()

    while running:
        nearest = min(run.ctx.deadline for run in running.values())
        try:
            name, result = done.get(timeout=max(0.0, nearest - time.monotonic()))
        except queue.Empty:
            now = time.monotonic()
            for name, run in list(running.items()):
                if now >= run.ctx.deadline:
                    del running[name]
                    killed = run.ctx.processes.kill_all()
                    _wait_gone(killed)
                    evidence = {"processes": run.ctx.processes.started, "killed": killed}
                    finish(name, timed_out(run.config.timeout, evidence))
            continue
        if name in running:  # else it was recorded as timed out already
            run = running.pop(name)
            run.ctx.processes.kill_all()
            if result.status == "error" and run.ctx.processes.killed:  # stopped at the deadline
                evidence = {**result.evidence, "processes": run.ctx.processes.started}
                result = timed_out(run.config.timeout, evidence)
            finish(name, dataclasses.replace(result, duration=time.monotonic() - run.started))
    return {name: results[name] for name, _ in items if name in results}


def _wait_gone(groups: list[int], patience: float = 5.0) -> None:
    """Wait (a little) until the killed process groups have really exited."""
    until = time.monotonic() + patience
    while any(group_alive(pgid) for pgid in groups) and time.monotonic() < until:
        time.sleep(0.02)


def _work(
    name: str, ctx: GateContext, config: GateConfig, done: queue.Queue[tuple[str, GateResult]]
) -> None:
    started = time.monotonic()
    try:
        gate = get_gate(config.kind)
        result = gate.run(ctx, parse_options(config.kind, config.options))
    except Exception as exc:
        result = _crashed(exc, time.monotonic() - started)
    done.put((name, result))


def _crashed(exc: Exception, duration: float) -> GateResult:
    message = one_line(str(exc))
    if not isinstance(exc, StagelineError):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    evidence = {"traceback": tail("".join(traceback.format_exception(exc)), 40)}
    return GateResult("error", message, duration, evidence)


def _counts(results: dict[str, GateResult]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "error": 0}
    for result in results.values():
        counts[result.status] += 1
    return counts


def junit_xml(env_name: str, digest: str, results: dict[str, GateResult]) -> str:
    """The results as a JUnit XML report (one testcase per gate) for CI systems."""
    counts = _counts(results)
    total = f"{sum(r.duration for r in results.values()):.3f}"
    attrs = {
        "tests": str(len(results)), "failures": str(counts["failed"]),
        "errors": str(counts["error"]), "skipped": "0", "time": total,
    }  # fmt: skip
    root = ET.Element("testsuites", {"name": "stageline", **attrs})
    suite = ET.SubElement(root, "testsuite", {"name": f"stageline.{env_name}", **attrs})
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", {"name": "environment", "value": env_name})
    ET.SubElement(properties, "property", {"name": "digest", "value": digest})
    for name, result in results.items():
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"stageline.{env_name}", "name": name, "time": f"{result.duration:.3f}"},
        )
        if result.status != "passed":
            tag = "failure" if result.status == "failed" else "error"
            element = ET.SubElement(case, tag, {"message": result.summary, "type": tag})
            element.text = result.summary
        out = ET.SubElement(case, "system-out")
        out.text = json.dumps(_jsonable(result.evidence), indent=2, sort_keys=True, default=str)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def results_json(env_name: str, digest: str, results: dict[str, GateResult]) -> dict[str, Any]:
    """The results as plain JSON data (for ``--json`` output and the state store)."""
    counts = _counts(results)
    return {
        "environment": env_name,
        "digest": digest,
        "passed": counts["failed"] == 0 and counts["error"] == 0,
        "counts": counts,
        "gates": {
            name: {
                "status": result.status,
                "summary": result.summary,
                "duration": round(result.duration, 3),
                "evidence": _jsonable(result.evidence),
                "report": str(result.report) if result.report else None,
            }
            for name, result in results.items()
        },
    }


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (anything JSON cannot hold becomes its ``str``)."""
    result: Any = json.loads(json.dumps(value, default=str))
    return result
