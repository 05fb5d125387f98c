"""Running gates together: parallel, timeouts that kill, crashes, and the reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from stageline.config.model import Gate as GateConfig
from stageline.gates import GateContext, GateResult, junit_xml, results_json, run_gates
from stageline.gates.command import CommandGate, CommandOptions
from stageline.host.procfs import group_alive, is_alive

from .conftest import MakeContext, Service


def gate(kind: str, timeout: int = 60, **options: Any) -> GateConfig:
    return GateConfig.model_validate({"kind": kind, "timeout": timeout, **options})


def test_command_passes_and_fails_by_exit_code(make_context: MakeContext) -> None:
    ctx = make_context("http://127.0.0.1:8603")
    (ctx.bundle / "check.sh").write_text('echo "checking $1 in $APP_ENV"; exit "$2"\n')
    passed = CommandGate().run(ctx, CommandOptions(run="sh check.sh {url} 0"))
    assert passed.status == "passed"
    assert passed.evidence["output"] == "checking http://127.0.0.1:8603 in staging"
    failed = CommandGate().run(ctx, CommandOptions(run="sh check.sh {url} 3"))
    assert failed.status == "failed"
    assert (
        failed.summary == "sh check.sh {url} 3 exited 3: checking http://127.0.0.1:8603 in staging"
    )


def test_command_that_does_not_exist_is_an_error(make_context: MakeContext) -> None:
    result = CommandGate().run(make_context(), CommandOptions(run="no-such-program-xyz"))
    assert result.status == "error"
    assert result.summary.startswith("cannot run no-such-program-xyz")


def test_hanging_gate_is_stopped_and_its_process_is_gone(make_context: MakeContext) -> None:
    contexts: list[GateContext] = []

    def make(name: str, config: GateConfig) -> GateContext:
        contexts.append(make_context(name=name))
        return contexts[-1]

    results = run_gates([("hang", gate("command", timeout=2, run="sleep 600"))], make)
    assert results["hang"].status == "error"
    assert results["hang"].summary == "timed out after 2s (stopped)"
    started = contexts[0].processes.started
    assert len(started) == 1
    assert not is_alive(started[0])
    assert not group_alive(started[0])


def test_gates_run_in_parallel_and_report_progress(
    make_context: MakeContext, service: Service, tmp_path: Path
) -> None:
    # each command waits for the others' marker files: it can pass only if all run at once
    names = ["a", "b", "c"]
    script = (
        "import pathlib, sys, time\n"
        "folder = pathlib.Path(sys.argv[1]); (folder / sys.argv[2]).touch()\n"
        "while len(list(folder.iterdir())) < 3: time.sleep(0.02)\n"
    )
    (tmp_path / "markers").mkdir()
    run = f"{{python}} -c '{script}' {tmp_path}/markers"
    items = [(n, gate("command", timeout=30, run=f"{run} {n}")) for n in names]
    items.append(("smoke", gate("http", steps=[{"path": "/products"}])))
    items.append(("sign-off", gate("approval", required=2)))
    seen: list[tuple[str, str | None]] = []
    results = run_gates(
        items,
        lambda name, config: make_context(service.url, name=name),
        progress=lambda name, result: seen.append((name, result.status if result else None)),
    )
    assert list(results) == [*names, "smoke", "sign-off"]
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(results, "passed")
    assert sorted(seen, key=str) == sorted(
        [(n, None) for n in results] + [(n, "passed") for n in results], key=str
    )


class Boom:
    Options = CommandOptions

    def run(self, ctx: GateContext, options: Any) -> GateResult:
        raise KeyError("surprise")


def test_exceptions_and_unknown_kinds_become_errors(make_context: MakeContext) -> None:
    def make(name: str, config: GateConfig) -> GateContext:
        if name == "bad-context":
            raise RuntimeError("no release here")
        return make_context(name=name)

    items = [
        ("nope", gate("nonexistent")),
        ("bad-options", gate("command", runn="true")),
        ("bad-context", gate("command", run="true")),
        ("fine", gate("command", run="true")),
    ]
    results = run_gates(items, make)
    assert results["nope"].status == "error"
    assert results["nope"].summary.startswith("unknown gate kind 'nonexistent'; valid: approval")
    assert results["bad-options"].status == "error"
    assert "ValidationError" in results["bad-options"].summary
    assert results["bad-context"].summary == "RuntimeError: no release here"
    assert results["fine"].status == "passed"


def test_junit_xml_and_json() -> None:
    results = {
        "smoke": GateResult("passed", "3 request(s) as expected", 1.25, {"requests": []}),
        "suite": GateResult("failed", "1 passed, 1 failed", 2.5, {"failing": ["t::x"]}),
        "hang": GateResult("error", "timed out after 2s (stopped)", 2.0, {"at": Path("/x")}),
    }
    text = junit_xml("staging", "sha256:abc", results)
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "stageline.staging"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    assert float(suite.get("time", "0")) == pytest.approx(5.75)
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("stageline.staging", "smoke"),
        ("stageline.staging", "suite"),
        ("stageline.staging", "hang"),
    ]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "1 passed, 1 failed"
    error = cases[2].find("error")
    assert error is not None and error.text == "timed out after 2s (stopped)"
    out = cases[1].findtext("system-out")
    assert out is not None and json.loads(out) == {"failing": ["t::x"]}
    digest = suite.find("properties/property[@name='digest']")
    assert digest is not None and digest.get("value") == "sha256:abc"

    data = results_json("staging", "sha256:abc", results)
    assert data["passed"] is False
    assert data["counts"] == {"passed": 1, "failed": 1, "error": 1}
    assert data["gates"]["hang"]["evidence"] == {"at": "/x"}
    json.dumps(data)
