"""DORA figures checked against a state store with a known, constructed history."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.cli.parity import _parse_since
from stageline.errors import UsageError
from stageline.parity.metrics import metrics
from stageline.parity.report import metrics_for
from stageline.state import ArtifactRecord, Store
from stageline.usecases.pipeline import Session

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
PIPELINE = """
[service]
name = "shop"
start = "true"

[environments.development]
tier = "development"
target = { kind = "local", port = 18601 }
[environments.staging]
tier = "staging"
target = { kind = "local", port = 18603 }
[environments.production]
tier = "production"
target = { kind = "local", port = 18604 }
"""


def build_history(store: Store, t0: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four releases; production sees an ok change, a failed deploy, a change undone by a
    rollback half a day later, and another ok change; one of each outside the period."""
    clock = {"now": t0}
    monkeypatch.setattr("stageline.state.store._now", lambda: clock["now"])
    for name, commit_day in (("a0", -3), ("a1", -1), ("a2", 2), ("a3", 5)):
        when = t0 + commit_day * DAY
        store.add_artifact(
            ArtifactRecord(
                digest=f"sha256:{name}",
                service="shop",
                version=name,
                tag=f"v-{name}",
                ref="r",
                commit=name,
                commit_time=when,
                built_at=when + MINUTE,
                built_by="ci",
                host="h",
                size_bytes=1,
                path="/x",
            )
        )
    history = [
        (-2.0, "production", "a0", "deploy", "succeeded"),  # before the period
        (-1.0, "staging", "a0", "deploy", "succeeded"),  # before the period
        (0.0, "staging", "a1", "deploy", "succeeded"),
        (1.0, "production", "a1", "promote", "succeeded"),  # lead time 2d + 1m
        (2.5, "staging", "a2", "deploy", "succeeded"),
        (3.0, "production", "a2", "promote", "failed"),  # a failure, nothing to restore
        (3.5, "production", "a2", "promote", "succeeded"),  # lead 1.5d + 1m, rolled back:
        (4.0, "production", "a1", "rollback", "succeeded"),  # restored after 0.5d
        (5.5, "staging", "a3", "deploy", "succeeded"),
        (6.0, "production", "a3", "promote", "succeeded"),  # lead time 1d + 1m
    ]
    for day, env, name, kind, status in history:
        clock["now"] = t0 + day * DAY
        record = store.start_deployment(env, f"sha256:{name}", actor="ana", kind=kind)  # type: ignore[arg-type]
        clock["now"] += MINUTE
        store.finish_deployment(record.id, status)  # type: ignore[arg-type]


def check(figures: dict[str, object], days: float) -> None:
    frequency = {f["environment"]: f for f in figures["deployment_frequency"]}  # type: ignore[attr-defined]
    assert {name: f["deployments"] for name, f in frequency.items()} == {
        "development": 0, "staging": 3, "production": 4,
    }  # fmt: skip
    assert frequency["production"]["per_day"] == pytest.approx(4 / days)
    assert frequency["staging"]["per_week"] == pytest.approx(3 * 7 / days)
    lead = figures["lead_time"]
    assert lead["count"] == 3  # type: ignore[index]
    assert lead["median_seconds"] == (1.5 * DAY + MINUTE).total_seconds()  # type: ignore[index]
    assert lead["max_seconds"] == (2 * DAY + MINUTE).total_seconds()  # type: ignore[index]
    assert (figures["changes"], figures["failures"]) == (4, 2)
    assert figures["change_failure_rate"] == 0.5
    restore = figures["time_to_restore"]
    assert restore["count"] == 1 and restore["median_seconds"] == 0.5 * 86400  # type: ignore[index]


def test_metrics_of_a_constructed_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        build_history(store, t0, monkeypatch)
        figures = metrics(
            store.deployments(limit=1000),
            {a.digest: a for a in store.list_artifacts()},
            environments=["development", "staging", "production"],
            production="production",
            since=t0,
            until=t0 + 10 * DAY,
        )
    check(figures.to_json(), 10)
    assert figures.lead_time.mean == pytest.approx((4.5 * DAY + 3 * MINUTE).total_seconds() / 3)


def test_a_change_the_agent_switched_back_is_a_failure_restored_at_the_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'state.db'}") as store:
        build_history(store, t0, monkeypatch)
        clock = {"now": t0 + 7 * DAY}
        monkeypatch.setattr("stageline.state.store._now", lambda: clock["now"])
        change = store.start_deployment("production", "sha256:a2", actor="ana", kind="promote")
        clock["now"] += MINUTE
        store.finish_deployment(change.id, "succeeded")
        clock["now"] += 9 * MINUTE  # the watch window saw it crash and switched back
        store.finish_deployment(change.id, "rolled_back", "crashed in the watch window")
        figures = metrics(
            store.deployments(limit=1000),
            {a.digest: a for a in store.list_artifacts()},
            environments=["production"],
            production="production",
            since=t0,
            until=t0 + 10 * DAY,
        )
    assert (figures.changes, figures.failures) == (5, 3)
    assert sorted(figures.time_to_restore.samples) == [600.0, 0.5 * 86400]
    assert figures.frequency[0].deployments == 5  # a rolled-back change still deployed


def test_an_empty_period_has_no_figures(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    figures = metrics([], {}, environments=["p"], production="p", since=now - DAY, until=now)
    assert figures.change_failure_rate is None and figures.lead_time.median is None
    assert figures.to_json()["time_to_restore"] == {
        "count": 0, "median_seconds": None, "mean_seconds": None, "max_seconds": None,
    }  # fmt: skip


def test_metrics_command_reads_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    t0 = (datetime.now(UTC) - 10 * DAY).replace(microsecond=0)
    with Session.open(tmp_path) as session:
        build_history(session.store, t0, monkeypatch)
    monkeypatch.undo()
    result = subprocess.run(
        [sys.executable, "-m", "stageline", "metrics", "--since", t0.isoformat(), "--json",
         "-C", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["production"] == "production"
    elapsed = (datetime.fromisoformat(figures["until"]) - t0) / DAY
    check(figures, elapsed)
    text = subprocess.run(
        [sys.executable, "-m", "stageline", "metrics", "--days", "30", "-C", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "change failure rate in production: 40% (2 of 5)" in text.stdout  # + day -2
    assert "time to restore in production: median 12h" in text.stdout
    with Session.open(tmp_path) as session:
        assert metrics_for(session, days=1).changes == 0  # nothing in the last day
    with pytest.raises(UsageError, match="--since expects an ISO date") as caught:
        _parse_since("last tuesday")
    assert caught.value.exit_code == 2
    assert _parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
