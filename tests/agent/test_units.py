"""The agent's plain parts: spec (de)serialization, backoff, log tails, what a front gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stageline.agent.fronts import UNNEEDED, FrontProcess
from stageline.agent.spec import ProcessSpec, ServiceStatus, SpecError
from stageline.agent.state import SOCKET_PATH_MAX, AgentPaths, RoutedFront, short_socket_folder
from stageline.agent.supervisor import Backoff, read_log_tail

SPEC = ProcessSpec(
    environment="staging",
    release="sha256:abc",
    argv=["python", "app.py", "8001"],
    cwd="/srv",
    env={"APP_ENV": "staging"},
    port=8001,
    health_path="/healthz",
    log_path="/srv/log",
)


def test_spec_round_trips() -> None:
    assert ProcessSpec.from_dict(SPEC.to_dict()) == SPEC


def test_status_round_trips() -> None:
    status = ServiceStatus("staging", "sha256:abc", 12, 8001, "backoff", False, 2, None, -9)
    assert ServiceStatus.from_dict(status.to_dict()) == status


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": "8001"}, "field 'port' has the wrong type (str)"),
        ({"port": True}, "field 'port' has the wrong type (bool)"),
        ({"port": 70000}, "out of range"),
        ({"argv": []}, "'argv' is empty"),
        ({"argv": ["x", 1]}, "list of strings"),
        ({"env": {"A": 1}}, "map strings to strings"),
        ({"health_path": "healthz"}, "must start with '/'"),
        ({"environment": ""}, "'environment' is empty"),
    ],
)
def test_bad_specs_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        ProcessSpec.from_dict({**SPEC.to_dict(), **change})


def test_a_missing_field_is_named() -> None:
    data = SPEC.to_dict()
    del data["cwd"]
    with pytest.raises(SpecError, match="missing field 'cwd'"):
        ProcessSpec.from_dict(data)


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 30)
    assert [backoff.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 0.5


def test_log_tail_skips_what_came_before_the_offset(tmp_path: Path) -> None:
    log = tmp_path / "log"
    text = "old\n" + "".join(f"line {i}\n" for i in range(30))
    log.write_text(text)
    assert read_log_tail(log, offset=4).splitlines() == [f"line {i}" for i in range(10, 30)]
    tail = read_log_tail(log, offset=text.index("line 25"))
    assert tail == "line 25\nline 26\nline 27\nline 28\nline 29"
    assert read_log_tail(tmp_path / "missing") == ""


def test_a_routed_front_round_trips_and_bad_ones_name_the_field() -> None:
    front = RoutedFront(Path("/srv/.stageline/envs/production/swarm"), "127.0.0.1", 8604)
    assert RoutedFront.from_dict(front.to_dict()) == front
    for change, message in [
        ({"home": "envs/production/swarm"}, "'home' must be an absolute path"),
        ({"host": ""}, "'host' must be a host"),
        ({"port": 0}, "'port' must be a port"),
        ({"port": True}, "'port' must be a port"),
    ]:
        with pytest.raises(SpecError, match=re.escape(message)):
            RoutedFront.from_dict({**front.to_dict(), **change})


def test_a_front_gets_no_secret_of_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGELINE_SECRET_PRODUCTION_API_KEY", "sk-live-1")
    monkeypatch.setenv("STAGELINE_MASTER_KEY", "master")
    monkeypatch.setenv("STAGELINE_TOKEN", "token")
    monkeypatch.setenv("STAGELINE_HOME_HINT", "kept")
    env = FrontProcess(AgentPaths(tmp_path), "production", "127.0.0.1", 8604, stop_grace=1).spec.env
    assert not [name for name in env if name.startswith(UNNEEDED)]
    assert env["STAGELINE_HOME_HINT"] == "kept"


def test_a_front_socket_too_long_for_its_folder_moves_to_a_private_short_one() -> None:
    """A deep project folder (or a swarm environment's front, under envs/<env>/swarm/)
    still gets a usable control socket: named by a hash of its path, in a folder only
    this user may enter."""
    short = AgentPaths(Path("/srv/app/.stageline"))
    assert short.front_socket("production").parent == short.dir
    deep = AgentPaths(Path("/srv/" + "project/" * 12 + ".stageline/envs/production/swarm"))
    moved = deep.front_socket("production")
    assert moved.parent == short_socket_folder() and len(str(moved)) <= SOCKET_PATH_MAX
    assert moved == deep.front_socket("production") != deep.front_socket("staging")
    assert moved != AgentPaths(deep.home.parent / "other").front_socket("production")
    assert short_socket_folder().stat().st_mode & 0o777 == 0o700
