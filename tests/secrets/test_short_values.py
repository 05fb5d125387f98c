"""A secret value too short to mask safely is refused where it comes in.

The red team stored ``GET`` (3 letters) as a secret: masking then replaced the ``GET`` of
every logged request line by ``[secret:NAME]``, which told every reader the value. Now
``secrets set`` refuses it, and so does resolution (a ``STAGELINE_SECRET_*`` variable, a
reference), naming the secret and the minimum, never the value; nothing is stored or used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stageline import redact
from stageline.errors import UsageError
from stageline.redact import MIN_SECRET_LENGTH
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import list_secrets, secrets_for, set_secret

MINIMUM = f"at least {MIN_SECRET_LENGTH} characters"


def stageline(
    project: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(project)],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )


def test_secrets_set_refuses_a_short_value_and_stores_nothing(project: Path) -> None:
    refused = stageline(project, "secrets", "set", "staging", "API_KEY", stdin="GET\n")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("error: secret staging.API_KEY is 3 characters long")
    assert MINIMUM in refused.stderr and "GET" not in refused.stderr
    with Session.open(project) as session:
        assert {i.name: i.source for i in list_secrets(session, "staging")}["API_KEY"] == "missing"
        assert not [e for e in session.store.events() if e.kind == "secret.set"]
    accepted = stageline(
        project, "secrets", "set", "staging", "API_KEY", stdin="x" * MIN_SECRET_LENGTH
    )
    assert accepted.returncode == 0, accepted.stderr


def test_a_short_value_from_the_environment_is_refused_at_resolution(project: Path) -> None:
    refused = stageline(project, "env", "staging", STAGELINE_SECRET_STAGING_DB_PASSWORD="GET")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "secret staging.DB_PASSWORD is 3 characters long" in refused.stderr
    assert MINIMUM in refused.stderr and "GET" not in refused.stdout + refused.stderr


def test_a_short_referenced_value_is_refused_and_never_masks(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_secret(session, "staging", "API_KEY", reference="env:VAULT_API_KEY")
    monkeypatch.setenv("VAULT_API_KEY", "GET")
    with pytest.raises(UsageError, match=MINIMUM):
        secrets_for(session.pipeline().environment("staging"), session)
    assert redact.scrub("GET /healthz HTTP/1.1") == "GET /healthz HTTP/1.1"
