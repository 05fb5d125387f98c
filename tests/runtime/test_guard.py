"""The side-effect guard: runs in production only, records (masked) everywhere else."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from stageline import runtime

calls: list[tuple[int, int]] = []


@runtime.side_effect(
    "payments",
    simulate=lambda order_id, amount_cents, **_: {"id": f"sim-{order_id}", "status": "simulated"},
)
def charge(
    order_id: int, amount_cents: int, api_key: runtime.Secret, note: str = ""
) -> dict[str, Any]:
    calls.append((order_id, amount_cents))
    return {"id": f"ch-{order_id}", "status": "charged"}


@runtime.side_effect("welcome email")
def send_welcome(to: str, **headers: str) -> str:
    calls.append((0, 0))
    return "sent"


@pytest.fixture
def outbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "out" / "outbox.jsonl"
    monkeypatch.setenv("STAGELINE_OUTBOX", str(path))
    calls.clear()
    return path


def in_tier(monkeypatch: pytest.MonkeyPatch, name: str, tier: str | None = None) -> None:
    monkeypatch.setenv("STAGELINE_ENVIRONMENT", name)
    if tier is not None:
        monkeypatch.setenv("STAGELINE_TIER", tier)


def test_staging_records_instead_of_running(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    in_tier(monkeypatch, "uat", "staging")
    monkeypatch.setenv("STAGELINE_VERSION", "v1.7.0-rc1")
    monkeypatch.setenv("STAGELINE_DIGEST", "sha256:abc")
    monkeypatch.setenv("STAGELINE_SECRET_NAMES", "SMTP_PASSWORD, PAYMENT_API_KEY,UNSET_ONE")
    monkeypatch.setenv("SMTP_PASSWORD", "pw-XYZ")
    monkeypatch.setenv("PAYMENT_API_KEY", "sk_live_999")

    result = charge(
        42, 1999, runtime.Secret("sk_test_1"), note="card sk_live_999 by pw-XYZ; key sk_test_1"
    )

    assert result == {"id": "sim-42", "status": "simulated"}
    assert calls == []
    [record] = runtime.read_outbox(str(outbox))
    assert record["kind"] == "payments"
    assert record["function"] == f"{__name__}.charge"
    assert record["args"] == {
        "order_id": 42,
        "amount_cents": 1999,
        "api_key": "****",
        "note": "card **** by ****; key ****",
    }
    assert record["environment"] == "uat" and record["tier"] == "staging"
    assert record["version"] == "v1.7.0-rc1" and record["digest"] == "sha256:abc"
    assert len(record["id"]) == 32 and record["at"].endswith("+00:00")
    text = outbox.read_text()
    assert "sk_live_999" not in text and "pw-XYZ" not in text and "sk_test_1" not in text


def test_without_simulate_returns_recorded(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    in_tier(monkeypatch, "staging")
    result = send_welcome("ann@example.com", reply_to="shop@example.com")
    assert isinstance(result, runtime.Recorded)
    assert result.kind == "welcome email"
    [record] = runtime.read_outbox(str(outbox))
    assert record["id"] == result.id
    assert record["args"] == {"to": "ann@example.com", "headers": {"reply_to": "shop@example.com"}}
    assert calls == []


def test_production_runs_and_records_nothing(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    in_tier(monkeypatch, "PRODUCTION")
    assert charge(7, 100, runtime.Secret("k")) == {"id": "ch-7", "status": "charged"}
    assert calls == [(7, 100)]
    assert not outbox.exists()
    assert runtime.allowed("payments")


@pytest.mark.parametrize("name", ["prodution", "live", "production "])
def test_misspelled_production_does_not_run(
    monkeypatch: pytest.MonkeyPatch, outbox: Path, name: str
) -> None:
    in_tier(monkeypatch, name)
    expected = "development" if name.strip() != "production" else "production"
    assert charge(1, 2, runtime.Secret("k"))["status"] == (
        "charged" if expected == "production" else "simulated"
    )
    if expected == "development":
        assert calls == [] and len(runtime.read_outbox(str(outbox))) == 1


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_override_runs_it_and_warns(
    monkeypatch: pytest.MonkeyPatch,
    outbox: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    in_tier(monkeypatch, "staging")
    monkeypatch.setenv("STAGELINE_ALLOW_PAYMENTS", value)
    with caplog.at_level(logging.WARNING, logger="stageline.runtime"):
        assert charge(3, 4, runtime.Secret("k"))["status"] == "charged"
        assert charge(5, 6, runtime.Secret("k"))["status"] == "charged"
    expected = f"ALLOWING real payments in staging because STAGELINE_ALLOW_PAYMENTS={value}"
    assert [r.getMessage() for r in caplog.records] == [expected, expected]  # every time
    assert capsys.readouterr().err.count(f"stageline: {expected}\n") == 2
    assert calls == [(3, 4), (5, 6)]
    assert not outbox.exists()


@pytest.mark.parametrize("value", ["0", "yes", "", "2"])
def test_other_override_values_do_not_enable(
    monkeypatch: pytest.MonkeyPatch, outbox: Path, value: str
) -> None:
    in_tier(monkeypatch, "staging")
    monkeypatch.setenv("STAGELINE_ALLOW_PAYMENTS", value)
    assert charge(3, 4, runtime.Secret("k"))["status"] == "simulated"
    assert calls == []


def test_override_variable_name(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    in_tier(monkeypatch, "uat", "staging")
    assert not runtime.allowed("welcome email")
    monkeypatch.setenv("STAGELINE_ALLOW_WELCOME_EMAIL", "1")
    assert runtime.allowed("welcome email")
    assert send_welcome("bob@example.com") == "sent"
    assert runtime.guard("sms.send").__enter__().allowed is False
    monkeypatch.setenv("STAGELINE_ALLOW_SMS_SEND", "1")
    assert runtime.guard("sms.send").__enter__().allowed is True


def test_guard_context_manager(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    in_tier(monkeypatch, "staging")
    with runtime.guard("email") as g:
        assert g.allowed is False
        recorded = g.record(to="ann@example.com", body=runtime.Secret("reset link"))
    assert recorded.kind == "email"
    [record] = runtime.read_outbox(str(outbox))
    assert record["function"] == "record"
    assert record["args"] == {"to": "ann@example.com", "body": "****"}
    monkeypatch.setenv("STAGELINE_TIER", "production")
    with runtime.guard("email") as g:
        assert g.allowed is True


def test_record_inline_and_non_json_values(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    monkeypatch.setenv("STAGELINE_SECRET_NAMES", "TOKEN")
    monkeypatch.setenv("TOKEN", "tok-1")
    recorded = runtime.record(
        "webhook",
        url="https://hooks.example.com/?t=tok-1",
        payload={"items": (1, 2.5, None), "path": Path("/x/tok-1"), "nan": float("nan")},
    )
    assert isinstance(recorded, runtime.Recorded)
    [record] = runtime.read_outbox(str(outbox))
    assert record["environment"] == "development" and record["tier"] == "development"
    assert record["version"] is None
    assert record["args"] == {
        "url": "https://hooks.example.com/?t=****",
        "payload": {"items": [1, 2.5, None], "path": "PosixPath('/x/****')", "nan": "nan"},
    }


def test_default_outbox_is_in_the_working_folder(tmp_path: Path) -> None:
    runtime.record("email", to="a@example.com")
    runtime.record("email", to="b@example.com")
    records = runtime.read_outbox(str(tmp_path / "stageline-outbox.jsonl"))
    assert [r["args"]["to"] for r in records] == ["a@example.com", "b@example.com"]
    assert runtime.read_outbox() == records


def test_file_prefix_and_missing_outbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STAGELINE_OUTBOX", f"file:{tmp_path}/deep/er/box.jsonl")
    runtime.record("email", to="a@example.com")
    assert len(runtime.read_outbox(f"file:{tmp_path}/deep/er/box.jsonl")) == 1
    assert runtime.read_outbox(str(tmp_path / "nothing.jsonl")) == []


def test_async_functions(monkeypatch: pytest.MonkeyPatch, outbox: Path) -> None:
    @runtime.side_effect("sms", simulate=lambda to: f"simulated {to}")
    async def send_sms(to: str) -> str:
        return f"sent {to}"

    in_tier(monkeypatch, "staging")
    assert asyncio.run(send_sms("+100")) == "simulated +100"
    assert len(runtime.read_outbox(str(outbox))) == 1
    monkeypatch.setenv("STAGELINE_TIER", "production")
    assert asyncio.run(send_sms("+100")) == "sent +100"


def test_bad_arguments_fail_like_the_function(
    monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> None:
    in_tier(monkeypatch, "staging")
    with pytest.raises(TypeError):
        charge(1)  # type: ignore[call-arg]
    assert not outbox.exists()
