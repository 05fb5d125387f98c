"""The ``http`` gate against a real service on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from stageline.gates.base import GateResult
from stageline.gates.http import MISSING, HttpGate, HttpOptions, lookup

from .conftest import MakeContext, Service, start_service


def run(make_context: MakeContext, url: str, **options: Any) -> GateResult:
    options.setdefault("wait_for_health", False)
    return HttpGate().run(make_context(url), HttpOptions.model_validate(options))


def test_all_steps_pass_and_every_exchange_is_evidence(
    make_context: MakeContext, service: Service
) -> None:
    steps = [
        {
            "path": "/products",
            "expect_json": {"count": 2, "items.0.sku": "TEA-001", "items.1.price": "*"},
            "expect_text": "MUG-002",
            "expect_headers": {"x-service": "shop"},
            "max_ms": 10_000,
        },
        {"path": "/healthz", "expect_json": {"status": "ok"}},
    ]
    result = run(make_context, service.url, wait_for_health=True, steps=steps)
    assert result.status == "passed", result.summary
    requests = result.evidence["requests"]
    assert [r["status"] for r in requests] == [200, 200]
    assert requests[0]["url"] == service.url + "/products"
    assert "TEA-001" in requests[0]["body"]
    assert result.evidence["health"]["polls"] >= 1


def test_status_mismatch_names_the_step(make_context: MakeContext, service: Service) -> None:
    steps = [{"path": "/products"}, {"path": "/boom"}, {"path": "/never-reached"}]
    result = run(make_context, service.url, steps=steps)
    assert result.status == "failed"
    assert result.summary == "GET /boom: expected status 200, got 500"
    assert len(result.evidence["requests"]) == 2


def test_json_mismatch_and_missing_path(make_context: MakeContext, service: Service) -> None:
    steps = [{"name": "catalog", "path": "/products", "expect_json": {"items.0.sku": "X"}}]
    result = run(make_context, service.url, steps=steps)
    assert result.status == "failed"
    assert result.summary == "catalog: expected JSON items.0.sku = 'X', got 'TEA-001'"

    steps = [{"path": "/products", "expect_json": {"items.5.sku": "*"}}]
    result = run(make_context, service.url, steps=steps)
    assert result.summary == "GET /products: expected JSON items.5.sku, not present"


def test_capture_is_reused_in_later_steps(make_context: MakeContext, service: Service) -> None:
    steps = [
        {
            "method": "POST",
            "path": "/orders",
            "json": {"sku": "TEA-001"},
            "expect_status": 201,
            "capture": {"order_id": "id", "sku": "sku"},
            "public": ["order_id", "sku"],
        },
        {"path": "/orders/{order_id}", "expect_json": {"sku": "TEA-001", "status": "new"}},
        {"method": "POST", "path": "/orders", "json": {"sku": "{sku}"}, "expect_status": 201},
    ]
    result = run(make_context, service.url, steps=steps)
    assert result.status == "passed", result.summary
    requests = result.evidence["requests"]
    order_id = requests[0]["captured"]["order_id"]
    assert requests[1]["url"] == f"{service.url}/orders/{order_id}"
    assert '"TEA-001"' in requests[2]["request_body"]


def test_unknown_variable_is_an_error_naming_the_step(
    make_context: MakeContext, service: Service
) -> None:
    result = run(make_context, service.url, steps=[{"path": "/orders/{nope}"}])
    assert result.status == "error"  # misconfigured: checked before any request is sent
    assert result.summary.startswith("step 1 (GET /orders/{nope}): unknown variable {nope}")
    assert "requests" not in result.evidence


def test_latency_budget(make_context: MakeContext, service: Service) -> None:
    result = run(make_context, service.url, steps=[{"path": "/slow?ms=300", "max_ms": 50}])
    assert result.status == "failed"
    assert result.summary.startswith("GET /slow?ms=300: took ")
    assert result.summary.endswith("budget 50 ms")


def test_waits_for_health_before_the_steps(make_context: MakeContext) -> None:
    with start_service(HEALTHY_AFTER="3") as slow_starter:
        result = run(
            make_context, slow_starter.url, wait_for_health=True, steps=[{"path": "/products"}]
        )
    assert result.status == "passed", result.summary
    assert result.evidence["health"]["polls"] == 4


def test_health_that_never_comes_fails(make_context: MakeContext) -> None:
    import time

    with start_service(HEALTHY_AFTER="1000000") as never:
        ctx = make_context(never.url, deadline=time.monotonic() + 2)
        result = HttpGate().run(ctx, HttpOptions(steps=[]))
    assert result.status == "failed"
    assert result.summary == "health check GET /healthz never answered 200 (last: status 503)"


def test_connection_refused_is_a_failed_step(make_context: MakeContext) -> None:
    result = run(make_context, "http://127.0.0.1:9", steps=[{"path": "/"}])
    assert result.status == "failed"
    assert result.summary.startswith("GET /: request failed")


def test_lookup() -> None:
    data = {"items": [{"sku": "A"}], "ok": True}
    assert lookup(data, "items.0.sku") == "A"
    assert lookup(data, "items.-1.sku") == "A"
    assert lookup(data, "items.1") is MISSING
    assert lookup(data, "ok.x") is MISSING
    assert lookup(data, "") == data


@pytest.mark.parametrize(
    "options",
    [{"steps": [{"path": "/", "bogus": 1}]}, {"steps": [{}]}, {"wait": True}],
)
def test_bad_options(options: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        HttpOptions.model_validate(options)
