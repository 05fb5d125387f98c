from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline import redact
from stageline.usecases.pipeline import Session

PIPELINE = """
[service]
name = "svc"
start = "python -m http.server {port}"

[people.groups]
leads = ["lea@shop.example"]

[environments.staging]
tier = "staging"
target = { kind = "local", port = 18003 }
secrets = ["API_KEY", "DB_PASSWORD"]

[environments.production]
tier = "production"
target = { kind = "local", port = 18004 }
secrets = ["API_KEY"]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    for name in ("STAGELINE_MASTER_KEY", "STAGELINE_MASTER_KEY_FILE", "STAGELINE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGELINE_USER", "ops@shop.example")
    monkeypatch.delenv("STAGELINE_HOME", raising=False)
    redact.forget_all()
    yield tmp_path
    redact.forget_all()  # values resolved here must not mask other tests' output


@pytest.fixture
def session(project: Path) -> Iterator[Session]:
    with Session.open(project) as opened:
        yield opened
