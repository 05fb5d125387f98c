"""The image's entry point: the task's port from its slot, secrets from files only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stageline.targets.swarm import launcher


def test_slot_n_listens_on_base_plus_n(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGELINE_PORT_BASE", "21000")
    monkeypatch.setenv("STAGELINE_SLOT", "2")
    assert launcher.port() == 21002


def test_secrets_come_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    given = tmp_path / "secrets.json"
    given.write_text(json.dumps({"PAYMENT_API_KEY": "sk_x"}))
    monkeypatch.setenv("STAGELINE_SECRET_FILES", "PAYMENT_API_KEY,MISSING")
    monkeypatch.setenv("STAGELINE_SECRETS_FILE", str(given))
    assert launcher.secrets() == {"PAYMENT_API_KEY": "sk_x"}


def test_a_task_binds_and_checks_its_listen_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGELINE_PORT_BASE", "21000")
    monkeypatch.setenv("STAGELINE_SLOT", "1")
    monkeypatch.delenv("STAGELINE_LISTEN", raising=False)
    assert launcher.host() == "127.0.0.1"
    assert launcher.health_url("/healthz") == "http://127.0.0.1:21001/healthz"
    monkeypatch.setenv("STAGELINE_LISTEN", "127.0.0.2")
    assert launcher.health_url("/healthz") == "http://127.0.0.2:21001/healthz"
    monkeypatch.setenv("STAGELINE_LISTEN", "0.0.0.0")
    assert launcher.health_url("/") == "http://127.0.0.1:21001/"
    monkeypatch.setenv("STAGELINE_LISTEN", "::")
    assert launcher.health_url("/") == "http://[::1]:21001/"
