"""Kind ``http``: smoke requests against the running service.

Waits for the health check, then runs the steps in order; the first step that does not
meet its expectations fails the gate (later steps may depend on its captures)::

    [environments.staging.gates.smoke]
    kind = "http"
    steps = [
      { path = "/products", expect_json = { "items.0.sku" = "TEA-001" } },
      { method = "POST", path = "/orders", json = { sku = "TEA-001" }, expect_status = 201,
        capture = { order_id = "id" } },
      { path = "/orders/{order_id}", expect_json = { status = "new" }, max_ms = 500 },
    ]
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field

from stageline.gates.base import GateContext, GateOptions, GateResult, one_line

if TYPE_CHECKING:  # httpx is imported when the gate runs: `stageline check` stays fast
    import httpx

BODY_LIMIT = 2048
MISSING = object()
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Step(GateOptions):
    name: str | None = None
    method: str = "GET"
    path: str
    json_body: Any = Field(default=None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict)
    expect_status: int = 200
    #: dotted paths into the response JSON -> expected value ("*" = present)
    expect_json: dict[str, Any] = Field(default_factory=dict)
    expect_text: str | None = None
    expect_headers: dict[str, str] = Field(default_factory=dict)
    max_ms: int | None = Field(default=None, ge=1)
    #: variable name -> dotted path in the response JSON, usable as {name} in later steps
    capture: dict[str, str] = Field(default_factory=dict)


class HttpOptions(GateOptions):
    wait_for_health: bool = True
    steps: list[Step] = Field(default_factory=list)


class StepFailed(Exception):
    """A step did not meet an expectation (the message says which and why)."""


def lookup(data: Any, dotted: str) -> Any:
    """``data`` at a dotted path ("items.0.sku"); ``MISSING`` if there is nothing there."""
    current = data
    for part in dotted.split(".") if dotted else []:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def same(actual: Any, expected: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace ``{name}`` in strings (recursively in lists and dicts) by captured values.

    A string that is exactly one placeholder takes the captured value with its JSON type.
    """
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if not isinstance(value, str):
        return value
    for name in _PLACEHOLDER.findall(value):
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none"
            raise StepFailed(f"unknown variable {{{name}}} (captured so far: {known})")
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return variables[whole.group(1)]
    return _PLACEHOLDER.sub(lambda match: str(variables[match.group(1)]), value)


def judge(step: Step, response: httpx.Response, ms: float) -> list[str]:
    """Every way ``response`` misses ``step``'s expectations (empty: it meets them)."""
    problems: list[str] = []
    if response.status_code != step.expect_status:
        problems.append(f"expected status {step.expect_status}, got {response.status_code}")
    if step.max_ms is not None and ms > step.max_ms:
        problems.append(f"took {ms:.0f} ms, budget {step.max_ms} ms")
    for header, expected in step.expect_headers.items():
        actual = response.headers.get(header)
        if actual is None or (expected != "*" and actual != expected):
            problems.append(f"expected header {header}: {expected!r}, got {actual!r}")
    if step.expect_text is not None and step.expect_text not in response.text:
        problems.append(f"expected the body to contain {step.expect_text!r}")
    if step.expect_json or step.capture:
        try:
            data = response.json()
        except ValueError:
            return [*problems, "expected a JSON body, got " + repr(response.text[:80])]
        for path, expected in step.expect_json.items():
            actual = lookup(data, path)
            if actual is MISSING:
                problems.append(f"expected JSON {path}, not present")
            elif expected != "*" and not same(actual, expected):
                problems.append(f"expected JSON {path} = {expected!r}, got {actual!r}")
        for name, path in step.capture.items():
            if lookup(data, path) is MISSING:
                problems.append(f"cannot capture {name}: JSON {path} not present")
    return problems


def _body(text: str) -> str:
    return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "...(truncated)"


class HttpGate:
    Options = HttpOptions

    def run(self, ctx: GateContext, options: HttpOptions) -> GateResult:
        import httpx

        opts = HttpOptions.model_validate(options)
        started = time.monotonic()
        exchanges: list[dict[str, Any]] = []
        evidence: dict[str, Any] = {"url": ctx.url, "requests": exchanges}
        with httpx.Client(base_url=ctx.url, trust_env=False) as client:
            if opts.wait_for_health:
                problem = self._wait_for_health(ctx, client, evidence)
                if problem:
                    return GateResult("failed", problem, time.monotonic() - started, evidence)
            variables: dict[str, Any] = {}
            for step in opts.steps:
                label = step.name or f"{step.method.upper()} {step.path}"
                try:
                    label = step.name or f"{step.method.upper()} {substitute(step.path, variables)}"
                    self._run_step(ctx, client, step, variables, exchanges)
                except StepFailed as failure:
                    summary = f"{label}: {failure}"
                    return GateResult("failed", summary, time.monotonic() - started, evidence)
        summary = f"{len(opts.steps)} request(s) as expected"
        return GateResult("passed", summary, time.monotonic() - started, evidence)

    def _wait_for_health(
        self, ctx: GateContext, client: httpx.Client, evidence: dict[str, Any]
    ) -> str | None:
        """Poll the health path until it answers 200; a reason if it never did in time."""
        import httpx

        stop = ctx.deadline - min(1.0, ctx.remaining() / 10)  # leave time to report
        polls, last = 0, "no answer"
        while True:
            polls += 1
            try:
                response = client.get(ctx.health_path, timeout=max(0.1, min(5.0, ctx.remaining())))
                if response.status_code == 200:
                    evidence["health"] = {"path": ctx.health_path, "polls": polls}
                    return None
                last = f"status {response.status_code}"
            except httpx.HTTPError as exc:
                last = one_line(str(exc)) or type(exc).__name__
            if time.monotonic() + 0.2 >= stop:
                evidence["health"] = {"path": ctx.health_path, "polls": polls, "last": last}
                return f"health check GET {ctx.health_path} never answered 200 (last: {last})"
            time.sleep(0.2)

    def _run_step(
        self,
        ctx: GateContext,
        client: httpx.Client,
        step: Step,
        variables: dict[str, Any],
        exchanges: list[dict[str, Any]],
    ) -> None:
        import httpx

        method = step.method.upper()
        path = str(substitute(step.path, variables))
        headers = {key: str(substitute(val, variables)) for key, val in step.headers.items()}
        body = substitute(step.json_body, variables)
        record: dict[str, Any] = {"step": step.name, "method": method, "url": ctx.url + path}
        if headers:
            record["request_headers"] = headers  # credentials are redacted before storing
        if body is not None:
            record["request_body"] = _body(json.dumps(body))
        exchanges.append(record)
        began = time.monotonic()
        try:
            response = client.request(
                method, path, json=body, headers=headers, timeout=max(0.1, ctx.remaining())
            )
        except httpx.HTTPError as exc:
            record["error"] = str(exc)
            raise StepFailed(f"request failed: {one_line(str(exc)) or type(exc).__name__}") from exc
        ms = (time.monotonic() - began) * 1000
        record.update(status=response.status_code, ms=round(ms, 1), body=_body(response.text))
        record["response_headers"] = dict(response.headers)
        problems = judge(step, response, ms)
        if problems:
            record["problems"] = problems
            raise StepFailed("; ".join(problems))
        if step.capture:
            data = response.json()
            captured = {name: lookup(data, path) for name, path in step.capture.items()}
            record["captured"] = captured
            record["captured_from"] = dict(step.capture)  # so credentials are known by path
            variables.update(captured)
