"""Gate evidence keeps no credentials: captured tokens, Authorization and cookie headers,
password-like fields of JSON and form bodies are redacted before anything is stored."""

from __future__ import annotations

import json
from typing import Any

from stageline.gates.base import GateResult
from stageline.gates.http import HttpGate, HttpOptions
from stageline.redact import REDACTED, drop_credentials, drop_credentials_text, scrub_result

from .conftest import MakeContext, Service


def test_header_lines_json_pairs_and_form_fields_are_redacted() -> None:
    text = (
        "GET /me HTTP/1.1\r\nAuthorization: Bearer abc.def\r\nCookie: sid=s1; theme=dark\r\n"
        "Set-Cookie: sid=s2; HttpOnly\r\nAccept: */*\r\n"
        '{"user": "ana", "password": "hunter2", "api_key":"k-1", "nested": {"db_passwd": 7}}\n'
        "user=ana&password=hunter3&next=/home https://x/cb?access_token=t0k&state=ok"
    )
    clean = drop_credentials_text(text)
    for secret in ("abc.def", "s1", "s2", "hunter2", "k-1", '"db_passwd": 7', "hunter3", "t0k"):
        assert secret not in clean, secret
    for kept in ("Accept: */*", '"user": "ana"', "user=ana", "next=/home", "state=ok"):
        assert kept in clean, kept
    assert f'"password": "{REDACTED}"' in clean and f"password={REDACTED}" in clean


def test_structured_evidence_loses_credential_fields_and_sensitive_captures() -> None:
    evidence = {
        "requests": [
            {
                "request_headers": {"Authorization": "Bearer T1", "Accept": "json"},
                "response_headers": {"set-cookie": "sid=C1", "x-service": "shop"},
                "captured": {"session": "T1", "order_id": 42},
                "captured_from": {"session": "auth.access_token", "order_id": "id"},
            },
            {"url": "http://127.0.0.1/orders/42?s=T1", "client_secret": None, "secret": True},
        ]
    }
    clean, captured = drop_credentials(evidence)
    assert captured == {"captured:session": "T1"}  # found by its path, not its name
    first = clean["requests"][0]
    assert first["request_headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert first["response_headers"] == {"set-cookie": REDACTED, "x-service": "shop"}
    assert first["captured"]["order_id"] == 42  # not a credential: kept as evidence
    assert clean["requests"][1]["secret"] is True  # a flag, not a value


def test_an_http_gate_run_stores_no_token(make_context: MakeContext, service: Service) -> None:
    steps: list[dict[str, Any]] = [
        {
            "method": "POST",
            "path": "/login",
            "json": {"user": "ana", "password": "hunter2"},
            "capture": {"t": "access_token"},
            "public": ["t"],  # shown by the gate: the store's own redaction still drops it
        },
        {"path": "/me", "headers": {"Authorization": "Bearer {t}"}, "expect_json": {"user": "ana"}},
        {"path": "/me?probe={t}", "headers": {"Authorization": "Bearer {t}"}, "expect_status": 418},
    ]
    raw = HttpGate().run(make_context(service.url), HttpOptions.model_validate({"steps": steps}))
    assert raw.status == "failed"  # the last step, whose summary names the token's URL
    token = raw.evidence["requests"][0]["captured"]["t"]
    assert token and token in json.dumps(raw.evidence) and token in raw.summary

    stored = scrub_result(raw)

    text = json.dumps(stored.evidence) + stored.summary
    assert token not in text
    assert "hunter2" not in text
    assert "[secret:captured:t]" in stored.summary
    assert stored.evidence["requests"][1]["status"] == 200  # the rest is still evidence
    assert stored.evidence["requests"][0]["response_headers"]["set-cookie"] == REDACTED


def test_a_result_without_credentials_is_unchanged() -> None:
    result = GateResult("passed", "2 request(s) as expected", 0.1, {"requests": [{"ms": 3}]})
    assert scrub_result(result) == result
