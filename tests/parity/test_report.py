"""The parity use case on a pipeline where nothing runs yet (no processes needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.errors import UnknownName, UsageError
from stageline.parity.report import default_pair, parity_view
from stageline.usecases.pipeline import Session

PIPELINE = """
[service]
name = "shop"
start = "true"
[environments.dev]
tier = "development"
target = { kind = "local", port = 18901 }
[environments.staging]
tier = "staging"
target = { kind = "local", port = 18902 }
[environments.production]
tier = "production"
target = { kind = "local", port = 18903 }
[environments.dr]
tier = "production"
target = { kind = "local", port = 18904 }
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    return tmp_path


def test_default_pair_is_the_environment_before_production_and_production(root: Path) -> None:
    assert default_pair(load_pipeline(root)) == ("staging", "production")


def test_nothing_deployed_is_reported_not_compared(root: Path) -> None:
    with Session.open(root) as session:
        view = parity_view(session)
    assert (view.a, view.b, view.report, view.missing) == ("staging", "production", None, "staging")
    assert view.gap.waiting == () and view.personnel_notes == ()
    assert view.to_json()["comparison"] is None


def test_bad_arguments(root: Path) -> None:
    with Session.open(root) as session:
        with pytest.raises(UsageError, match="give two environments, or none"):
            parity_view(session, "staging")
        with pytest.raises(UnknownName, match="stagin"):
            parity_view(session, "stagin", "production")
        with pytest.raises(UsageError, match="got staging twice"):
            from stageline.parity.report import compare_environments

            compare_environments(session, "staging", "staging")
