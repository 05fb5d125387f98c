"""The ``http`` gate walks a real critical path: a per-run registration, a form sign-in
with a secret, a session cookie, a captured credential; evidence keeps none of them."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from stageline.config.model import Environment
from stageline.gates.base import GateContext
from stageline.gates.http import HttpGate, HttpOptions
from stageline.redact import REDACTED, scrub_result
from stageline.web.app import templates

from .conftest import MakeContext, Service
from .service import PASSWORD

EMAIL = "smoke-{run}@example.test"
CREDENTIALS = {"email": EMAIL, "password": "{secret.SMOKE_PASSWORD}"}
STEPS: list[dict[str, Any]] = [
    {"name": "register", "method": "POST", "path": "/register", "form": CREDENTIALS,
     "expect_status": 201},
    {"name": "sign in", "method": "POST", "path": "/signin", "form": CREDENTIALS,
     "expect_status": [200, 303]},
    {"name": "account", "path": "/account", "headers": {"X-Env": "{var.APP_ENV}"},
     "expect_json": {"email": EMAIL}, "capture": {"key": "api_key", "who": "email"},
     "public": ["who"]},
    {"name": "orders", "method": "POST", "path": "/orders", "json": {"sku": "{key}"},
     "expect_status": 201},
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Secrets:
    """A store that holds the environment's secrets (and no snapshot)."""

    values: Mapping[str, str]

    def newest_snapshot(self, environment: str) -> str | None:
        return None

    def secrets(self, environment: str) -> Mapping[str, str]:
        return self.values


def with_secret(ctx: GateContext) -> GateContext:
    env = Environment.model_validate(
        {**ctx.environment.model_dump(), "secrets": ["SMOKE_PASSWORD"]}
    )
    return dataclasses.replace(ctx, environment=env, store=Secrets({"SMOKE_PASSWORD": PASSWORD}))


def test_sign_up_and_in_on_every_run(make_context: MakeContext, service: Service) -> None:
    ctx = with_secret(make_context(service.url))
    options = HttpOptions.model_validate({"wait_for_health": False, "steps": STEPS})
    first, second = HttpGate().run(ctx, options), HttpGate().run(ctx, options)

    assert first.status == "passed", first.summary
    assert second.status == "passed", second.summary  # {run}: a fresh email each time
    assert first.evidence["run"] != second.evidence["run"]
    register, signin, account, orders = second.evidence["requests"]
    run = second.evidence["run"]
    assert register["request_form"] == {"email": f"smoke-{run}@example.test",
                                        "password": "{secret.SMOKE_PASSWORD}"}  # fmt: skip
    assert signin["status"] == 303 and account["status"] == 200  # the cookie was sent
    assert account["request_headers"] == {"X-Env": "{var.APP_ENV}"}
    assert account["captured"] == {"key": REDACTED, "who": f"smoke-{run}@example.test"}
    assert orders["request_body"] == '{"sku": "{key}"}'
    assert '"api_key": "[secret:captured:key]"' in account["body"]  # the page's credential
    assert "[secret:captured:key]" in orders["body"]  # and where the service echoed it
    assert PASSWORD not in json.dumps(second.evidence)

    # the dashboard's release page renders what is stored: no key, no password
    stored = scrub_result(second)
    page = templates().from_string('{% import "_evidence.html" as ev %}{{ ev.evidence(run) }}')
    html = page.render(run={"kind": "http", "evidence": stored.evidence})
    assert "/account" in html and f"smoke-{run}@" in html and "[secret:captured:key]" in html
    assert re.search(r"[0-9a-f]{24}", html) is None  # the service's keys are 24 hex digits
    assert PASSWORD not in html


def test_a_wrong_secret_name_stops_before_any_request(
    make_context: MakeContext, service: Service
) -> None:
    ctx = with_secret(make_context(service.url))
    steps = [{**STEPS[0], "form": {"email": EMAIL, "password": "{secret.SMOKE_PASWORD}"}}]
    result = HttpGate().run(ctx, HttpOptions.model_validate({"steps": steps}))
    assert result.status == "error"
    assert result.summary == (
        "step 1 (register): unknown secret {secret.SMOKE_PASWORD} (staging declares: "
        "SMOKE_PASSWORD)"
    )
    assert "requests" not in result.evidence


def test_a_failed_expectation_does_not_show_the_secret(
    make_context: MakeContext, service: Service
) -> None:
    ctx = with_secret(make_context(service.url))
    steps = [{"method": "POST", "path": "/signin", "form": CREDENTIALS,
              "expect_text": "{secret.SMOKE_PASSWORD}"}]  # fmt: skip
    result = HttpGate().run(ctx, HttpOptions.model_validate({"steps": steps}))
    assert result.status == "failed"
    assert PASSWORD not in result.summary + json.dumps(result.evidence)
    assert "expected status 200, got 403" in result.summary
    assert "[secret:SMOKE_PASSWORD]" in result.summary
