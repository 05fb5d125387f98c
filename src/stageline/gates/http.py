"""Kind ``http``: smoke requests against the running service (a critical path).

Waits for the health check, then runs the steps in order with one HTTP client, so
cookies set by one step are sent by the next; the first step that does not meet its
expectations fails the gate (later steps may depend on its captures)::

    [environments.staging.gates.smoke]
    kind = "http"
    steps = [
      { method = "POST", path = "/register", form = { email = "smoke-{run}@example.test",
        password = "{secret.SMOKE_PASSWORD}" }, expect_status = [201, 303] },
      { method = "POST", path = "/login", form = { email = "smoke-{run}@example.test",
        password = "{secret.SMOKE_PASSWORD}" }, expect_status = [200, 303] },
      { method = "POST", path = "/api/token", json = { scope = "orders" },
        capture = { token = "access_token" } },
      { method = "POST", path = "/orders", json = { sku = "TEA-001" }, expect_status = 201,
        headers = { Authorization = "Bearer {token}" }, capture = { order_id = "id" },
        public = ["order_id"] },
      { path = "/orders/{order_id}", expect_json = { status = "new" }, max_ms = 500 },
    ]

Placeholders (``{secret.NAME}``, ``{var.NAME}``, ``{run}``, captured ``{name}``) are
resolved when the gate runs and checked before the first request
(``gates/placeholders.py``). Evidence records each request as its template, the
secrets' values and captured values (unless the capturing step lists them in
``public``) masked wherever they appear in a response.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from stageline.gates.base import GateContext, GateOptions, GateResult, one_line
from stageline.gates.placeholders import Values, first_problem, placeholders, render
from stageline.redact import REDACTED, Redactor

if TYPE_CHECKING:  # httpx is imported when the gate runs: `stageline check` stays fast
    import httpx

BODY_LIMIT = 2048
MISSING = object()


class Step(GateOptions):
    name: str | None = None
    method: str = "GET"
    path: str
    json_body: Any = Field(default=None, alias="json")
    #: a form body (application/x-www-form-urlencoded); not with ``json``
    form: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: the status to expect, or a list of accepted ones
    expect_status: int | list[int] = 200
    #: dotted paths into the response JSON -> expected value ("*" = present)
    expect_json: dict[str, Any] = Field(default_factory=dict)
    expect_text: str | None = None
    expect_headers: dict[str, str] = Field(default_factory=dict)
    max_ms: int | None = Field(default=None, ge=1)
    #: variable name -> dotted path in the response JSON, usable as {name} in later steps
    capture: dict[str, str] = Field(default_factory=dict)
    #: captured names whose values evidence may show (the others are redacted)
    public: list[str] = Field(default_factory=list)

    @field_validator("expect_status", mode="before")
    @classmethod
    def _statuses(cls, value: object) -> object:
        """One message for both shapes (not one per branch of the union)."""
        items = value if isinstance(value, list) else [value]
        if not items or not all(type(item) is int for item in items):
            raise ValueError(
                f"expected an integer status or a non-empty list of them, got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Step:
        if self.form is not None and self.json_body is not None:
            raise ValueError("a step sends either `json` or `form`, not both")
        unknown = sorted(set(self.public) - set(self.capture))
        if unknown:
            raise ValueError(f"`public` names {', '.join(unknown)}, not captured by this step")
        return self

    def statuses(self) -> list[int]:
        return self.expect_status if isinstance(self.expect_status, list) else [self.expect_status]

    def templates(self) -> list[Any]:
        """Every field that may hold placeholders."""
        return [
            self.path, self.headers, self.json_body, self.form, self.expect_json,
            self.expect_text, self.expect_headers,
        ]  # fmt: skip

    def label(self) -> str:
        return self.name or f"{self.method.upper()} {self.path}"


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


def judge(step: Step, response: httpx.Response, ms: float) -> list[str]:
    """Every way ``response`` misses ``step``'s expectations (empty: it meets them)."""
    problems: list[str] = []
    if response.status_code not in step.statuses():
        wanted = " or ".join(str(status) for status in step.statuses())
        problems.append(f"expected status {wanted}, got {response.status_code}")
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
        values = self._values(ctx, opts)
        if isinstance(values, str):
            return GateResult("error", values, time.monotonic() - started, {"url": ctx.url})
        exchanges: list[dict[str, Any]] = []
        evidence: dict[str, Any] = {"url": ctx.url, "run": values.run, "requests": exchanges}
        with httpx.Client(base_url=ctx.url, trust_env=False) as client:
            if opts.wait_for_health:
                problem = self._wait_for_health(ctx, client, evidence)
                if problem:
                    return GateResult("failed", problem, time.monotonic() - started, evidence)
            for step in opts.steps:
                try:
                    self._run_step(ctx, client, step, values, exchanges)
                except StepFailed as failure:
                    label = step.name or f"{step.method.upper()} {render(step.path, values.shown)}"
                    summary = Redactor(values.hidden()).scrub(f"{label}: {failure}")
                    return GateResult("failed", summary, time.monotonic() - started, evidence)
        summary = f"{len(opts.steps)} request(s) as expected"
        return GateResult("passed", summary, time.monotonic() - started, evidence)

    def _values(self, ctx: GateContext, opts: HttpOptions) -> Values | str:
        """The placeholders' values for this run, or the first one that cannot be had."""
        uses_secrets = any(
            kind == "secret" for step in opts.steps for kind, _ in placeholders(step.templates())
        )
        environment = ctx.environment.name
        secrets = dict(ctx.store.secrets(environment)) if uses_secrets else {}
        problem = first_problem(
            opts.steps, [step.label() for step in opts.steps], environment=environment,
            declared=ctx.environment.secrets, secrets=secrets, variables=ctx.variables,
        )  # fmt: skip
        return problem if problem else Values(secrets, ctx.variables)

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
        values: Values,
        exchanges: list[dict[str, Any]],
    ) -> None:
        import httpx

        sent = _resolved(step, values)
        record = _request_record(ctx, step, values)
        exchanges.append(record)
        began = time.monotonic()
        try:
            response = client.request(
                sent.method.upper(), sent.path, json=sent.json_body, data=sent.form,
                headers=sent.headers, timeout=max(0.1, ctx.remaining()),
            )  # fmt: skip
        except httpx.HTTPError as exc:
            record["error"] = Redactor(values.hidden()).scrub(str(exc))
            raise StepFailed(f"request failed: {one_line(str(exc)) or type(exc).__name__}") from exc
        ms = (time.monotonic() - began) * 1000
        problems = judge(sent, response, ms)
        if not problems and step.capture:
            data = response.json()
            for name, path in step.capture.items():
                values.captured[name] = lookup(data, path)
            values.public.update(step.public)
            record["captured"] = {
                name: values.captured[name] if name in step.public else REDACTED
                for name in step.capture
            }
            record["captured_from"] = dict(step.capture)
        hide = Redactor(values.hidden())  # after capturing: a token is masked where it came
        record.update(status=response.status_code, ms=round(ms, 1))
        record["body"] = _body(hide.scrub(response.text))
        record["response_headers"] = hide.scrub_value(dict(response.headers))
        if problems:
            record["problems"] = [hide.scrub(problem) for problem in problems]
            raise StepFailed("; ".join(problems))


def _resolved(step: Step, values: Values) -> Step:
    """``step`` with every placeholder replaced by its actual value (never stored)."""
    fields = ("path", "headers", "json_body", "form", "expect_json", "expect_text")
    update = {name: render(getattr(step, name), values.actual) for name in fields}
    update["path"] = str(update["path"])
    update["headers"] = {key: str(val) for key, val in update["headers"].items()}
    update["expect_headers"] = {
        key: str(render(val, values.actual)) for key, val in step.expect_headers.items()
    }
    if update["form"] is not None:
        update["form"] = {key: str(val) for key, val in update["form"].items()}
    if update["expect_text"] is not None:
        update["expect_text"] = str(update["expect_text"])
    return step.model_copy(update=update)


def _request_record(ctx: GateContext, step: Step, values: Values) -> dict[str, Any]:
    """What evidence keeps of a request: its templates (see ``gates/placeholders.py``)."""
    record: dict[str, Any] = {
        "step": step.name,
        "method": step.method.upper(),
        "url": ctx.url + str(render(step.path, values.shown)),
    }
    if step.headers:
        record["request_headers"] = render(step.headers, values.shown)
    if step.json_body is not None:
        record["request_body"] = _body(json.dumps(render(step.json_body, values.shown)))
    if step.form is not None:
        record["request_form"] = render(step.form, values.shown)
    return record
