"""What gates are given: the views ``stageline.usecases.gating`` builds from a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.parity.facts import NotDeployed
from stageline.usecases.gating import gate_views
from stageline.usecases.pipeline import Session

PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.staging]
tier = "staging"
target = { kind = "local", port = 18613 }
secrets = ["PAYMENT_API_KEY"]

[environments.staging.services.postgres]
provider = "external"
url = "postgresql://shop:pw@127.0.0.1:5999/shop_staging"

[environments.production]
tier = "production"
target = { kind = "local", port = 18614 }
"""


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    (tmp_path / "stageline.toml").write_text(PIPELINE, encoding="utf-8")
    with Session.open(tmp_path) as opened:
        yield opened


def test_the_pipeline_is_loaded_once_and_shared(session: Session) -> None:
    views = gate_views(session)
    assert views.pipeline.names == ["staging", "production"]
    given = session.pipeline()
    assert gate_views(session, given).pipeline is given


def test_the_store_view_reads_snapshots_and_secrets(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = gate_views(session).store
    assert store.newest_snapshot("staging") is None
    session.store.add_snapshot(
        "stageline_snap_1", source="production", environment="staging", rules_digest="r",
        row_counts={}, size=0, duration=0.1, actor="test",
    )  # fmt: skip
    assert store.newest_snapshot("staging") == "stageline_snap_1"
    assert store.newest_snapshot("production") is None
    assert dict(store.secrets("staging")) == {}
    monkeypatch.setenv("STAGELINE_SECRET_STAGING_PAYMENT_API_KEY", "sk_test_1234")
    assert dict(store.secrets("staging")) == {"PAYMENT_API_KEY": "sk_test_1234"}


def test_the_target_view_gives_backing_facts_and_probes(session: Session) -> None:
    targets = gate_views(session).targets
    facts = targets.postgres("staging")
    assert facts is not None and (facts.port, facts.database) == (5999, "shop_staging")
    assert targets.admin_url("staging", "postgres").endswith("@127.0.0.1:5999/postgres")
    assert targets.postgres("production") is None
    with pytest.raises(NotDeployed) as caught:
        targets.probe("staging")
    assert caught.value.environment == "staging"
