"""The outbox in PostgreSQL, and the masking of what goes into any outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from stageline import runtime
from stageline.runtime.outbox import masked


def test_postgres_outbox(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    monkeypatch.setenv("STAGELINE_OUTBOX", postgres_url)
    monkeypatch.setenv("STAGELINE_ENVIRONMENT", "staging")
    assert runtime.read_outbox(postgres_url) == []  # no table yet
    first = runtime.record("email", to="ann@example.com", token=runtime.Secret("t0k"))
    runtime.reset()  # a new process: the table exists already
    second = runtime.record("email", to="bob@example.com")
    records = runtime.read_outbox(postgres_url)
    assert [r["id"] for r in records] == [first.id, second.id]
    assert records[0]["args"] == {"to": "ann@example.com", "token": "****"}
    assert records[0]["tier"] == "staging"
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT id, kind, at FROM stageline_outbox ORDER BY at").fetchall()
    assert [(row[0], row[1]) for row in rows] == [(first.id, "email"), (second.id, "email")]
    assert rows[0][2].tzinfo is not None


def test_masking_walks_nested_values() -> None:
    value = {
        "a": [runtime.Secret("s1"), ("x-s1-y", {"deep": "env-secret"})],
        1: {"set": {"only"}},
        "obj": object,
    }
    assert masked(value, ["env-secret"]) == {
        "a": ["****", ["x-****-y", {"deep": "****"}]],
        "1": {"set": ["only"]},
        "obj": "<class 'object'>",
    }


def test_concurrent_writers_do_not_interleave(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    script = (
        "from stageline import runtime\n"
        "for i in range(200): runtime.record('email', i=i, body='x' * 3000)\n"
    )
    env = {**os.environ, "STAGELINE_OUTBOX": str(outbox)}
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(4)]
    assert all(worker.wait(timeout=60) == 0 for worker in workers)
    lines = outbox.read_text().splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["args"]["body"] == "x" * 3000 for line in lines)
