"""Gate output is data: ``verify`` prints what a gate said as it said it, masks included.

The red team's gate printed ``[/bold]``: ``verify`` crashed (exit 3) on its own progress
line; a secret the gate printed came out masked as ``[secret:NAME]``, which Rich then read
as a style and dropped, so the line lost the very mark that says a secret was there.
Here a real ``command`` gate, run by ``stageline verify`` against the real artifact,
prints hostile markup and staging's secret, and fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stageline.redact import mask_for
from stageline.usecases.demo import TAGS
from stageline.usecases.pipeline import Session, find_artifact
from tests.e2e.helpers import PAYMENT_KEY, QA

HOSTILE = "[/bold] [red]not red[/red] [b]"
PROBE_KEY = "sk_probe_verify_5e8a21"
GATE = f"""
[environments.staging.gates.echo]
kind = "command"
run = "{{python}} -c \\"import os, sys; print('{HOSTILE}', os.environ['PROBE_KEY']); sys.exit(1)\\""
"""


@pytest.mark.slow
def test_verify_prints_a_gates_hostile_output_and_its_masks_literally(shop: Path) -> None:
    pipeline_file = shop / "stageline.toml"
    text = pipeline_file.read_text()
    text = text.replace("ttl_hours = 72\n", 'ttl_hours = 72\nsecrets = ["PROBE_KEY"]\n', 1)
    pipeline_file.write_text(text + GATE)
    with Session.open(shop) as session:  # staging runs the newer tag, as the store says
        digest = find_artifact(session, TAGS[1]).digest
        started = session.store.start_deployment("staging", digest, actor=QA[0], kind="deploy")
        session.store.finish_deployment(started.id, "succeeded")
    result = subprocess.run(
        [sys.executable, "-m", "stageline", "verify", "staging", "--gate", "echo", "-C", str(shop)],
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "COLUMNS": "300",
            "STAGELINE_SECRET_STAGING_PROBE_KEY": PROBE_KEY,
            "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY": PAYMENT_KEY,
        },
    )
    printed = result.stdout + result.stderr
    assert result.returncode == 1, printed  # the gate failed; verify did not crash
    assert "echo: failed" in result.stdout, printed
    assert f"{HOSTILE} {mask_for('PROBE_KEY')}" in result.stdout, printed
    assert PROBE_KEY not in printed


@pytest.mark.slow
def test_a_held_promotion_names_a_hostile_rejection_literally(shop: Path) -> None:
    with Session.open(shop) as session:  # staging runs the newer tag, as the store says
        digest = find_artifact(session, TAGS[1]).digest
        started = session.store.start_deployment("staging", digest, actor=QA[0], kind="deploy")
        session.store.finish_deployment(started.id, "succeeded")
    env = {
        **os.environ,
        "COLUMNS": "300",
        "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY": PAYMENT_KEY,
    }
    stageline = [sys.executable, "-m", "stageline"]
    rejected = subprocess.run(
        [*stageline, "reject", "staging", "--reason", HOSTILE, "-C", str(shop)],
        capture_output=True,
        text=True,
        env={**env, "STAGELINE_USER": QA[1]},
    )
    assert rejected.returncode == 0, rejected.stderr
    for dry_run in ((), ("--dry-run",)):
        held = subprocess.run(
            [*stageline, "promote", "staging", *dry_run, "-C", str(shop)],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
        assert held.returncode == 1, held.stdout + held.stderr
        assert f"rejected {digest[:19]} in staging: {HOSTILE}" in held.stderr, held.stderr
        assert "unexpected" not in held.stderr
