"""``stageline traffic``: the profile read from an environment's files, as a table and as
``TrafficProfile.to_json()``; who records by default; bad input."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.cli import main
from stageline.traffic.minutes import MinuteRecord, RouteTally, bucket
from stageline.traffic.profile import TrafficProfile
from stageline.traffic.store import TrafficStore, traffic_dir
from stageline.usecases.pipeline import Session
from stageline.usecases.traffic import profile

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop" / "stageline.toml"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's pipeline, and two recorded minutes of production traffic (one an
    hour and a half ago, one a minute ago)."""
    root = tmp_path_factory.mktemp("traffic")
    shutil.copy(EXAMPLE, root / "stageline.toml")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with Session.open(root) as session:
        folder = traffic_dir(session.workspace.home, "production")
    orders = RouteTally(90, {200: 89, 500: 1}, {bucket(4.0): 90}, 0, 90 * 512)
    posts = RouteTally(10, {201: 10}, {bucket(20.0): 10}, 10 * 64, 10 * 32)
    TrafficStore(folder).append(
        [
            MinuteRecord(
                int((now - timedelta(minutes=90)).timestamp()), 30, 2, 1, {"GET /": RouteTally(30)}
            ),
            MinuteRecord(
                int((now - timedelta(minutes=1)).timestamp()),
                100,
                7,
                4,
                {"GET /orders/{id}": orders, "POST /orders": posts},
            ),
        ]
    )
    return root


@pytest.fixture
def stageline(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in this process: its exit code, stdout and stderr."""

    def run(root: Path, *args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as ended:
            main([*args, "-C", str(root)])
        captured = capsys.readouterr()
        return int(ended.value.code or 0), captured.out, captured.err

    return run


Cli = Callable[..., tuple[int, str, str]]


def test_the_json_is_the_profile(root: Path, stageline: Cli) -> None:
    code, out, err = stageline(root, "traffic", "production", "--since", "1h", "--json")
    assert code == 0, err
    found = TrafficProfile.from_json(json.loads(out))
    assert [(r.route, r.count) for r in found.routes] == [
        ("GET /orders/{id}", 90),
        ("POST /orders", 10),
    ]
    assert found.peak_rps == 7.0
    assert json.loads(out)["mix"] == {"GET /orders/{id}": 0.9, "POST /orders": 0.1}
    with Session.open(root) as session:  # the use case reads the same, the whole window
        assert profile(session, "production").requests == 130


def test_the_table(root: Path, stageline: Cli) -> None:
    code, out, err = stageline(root, "traffic", "production")
    assert code == 0, err
    assert "GET /orders/{id}" in out and "500:1" in out
    assert "busiest hour:" in out and "100 requests, peak 7/s" in out
    assert "most requests in flight at once: 4" in out


def test_an_environment_that_records_nothing_says_how_to(root: Path, stageline: Cli) -> None:
    code, out, err = stageline(root, "traffic", "staging")
    assert code == 0, err
    assert "no requests recorded" in out
    assert "record_traffic = true" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("traffic", "nowhere"), "nowhere"),
        (("traffic", "production", "--since", "yesterday"), "--since expects a duration"),
    ],
)
def test_bad_input_is_one_clear_line(
    root: Path, stageline: Cli, args: tuple[str, ...], message: str
) -> None:
    code, _, err = stageline(root, *args)
    assert code != 0
    assert err.startswith("error: ") and message in err


def test_production_records_by_default_and_the_key_overrides(root: Path) -> None:
    with Session.open(root) as session:
        pipe = session.pipeline()
    assert pipe.environment("production").records_traffic
    assert not pipe.environment("staging").records_traffic
    staging = pipe.environment("staging").model_copy(update={"record_traffic": True})
    assert staging.records_traffic
