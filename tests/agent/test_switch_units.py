"""The pure parts of blue/green: header rewriting, round-robin, specs on disk, and the
rule by which the agent's and the command's records of a deployment commute."""

from __future__ import annotations

import asyncio
import itertools
from typing import get_args

import pytest

from stageline.agent.proxy import Backends, forwarded_headers, response_headers
from stageline.agent.record import next_status
from stageline.agent.release import DeploymentRef, EnvState, Group, Outcome, ReleaseSpec
from stageline.agent.spec import ProcessSpec, SpecError
from stageline.state import DeploymentStatus
from stageline.targets.local import _listen_host

TEMPLATE = ProcessSpec(
    environment="production",
    release="sha256:abc",
    argv=["uvicorn", "app:app", "--port", "{port}"],
    cwd="/srv",
    env={"PORT": "8604", "BIND": "127.0.0.1:{port}", "KEY": "v"},
    port=8604,
    health_path="/healthz",
    log_path="/srv/log",
)


def test_each_copy_gets_its_internal_port_in_argv_and_env() -> None:
    copy = ReleaseSpec(TEMPLATE, processes=2).process(40001)
    assert copy.argv == ["uvicorn", "app:app", "--port", "40001"]
    assert copy.env == {"PORT": "40001", "BIND": "127.0.0.1:40001", "KEY": "v"}
    assert (copy.port, copy.release, copy.log_path) == (40001, "sha256:abc", "/srv/log")


def test_state_round_trips_through_json_shapes() -> None:
    spec = ReleaseSpec(TEMPLATE, processes=3, drain_timeout=5, watch=12, health_timeout=9)
    state = EnvState(
        serving=Group(spec, (1, 2, 3)),
        pending=Group(spec, (4, 5, 6)),
        previous=spec,
        watch_until=1700000000.5,
        deployment=DeploymentRef("sqlite:////x/state.db", 7, "sha256:abc"),
        outcome=Outcome("rolled_back", "crashed", 6, True),
    )
    assert EnvState.from_dict(state.to_dict()) == state
    assert EnvState.from_dict(EnvState(None).to_dict()) == EnvState(None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"processes": 0}, "'processes' is out of range"),
        ({"watch": -1}, "'watch' must not be negative"),
        ({"processes": "2"}, "'processes' has the wrong type"),
        ({"template": {"environment": "x"}}, "missing field"),
    ],
)
def test_bad_release_specs_name_the_field(change: dict[str, object], message: str) -> None:
    raw = {**ReleaseSpec(TEMPLATE).to_dict(), **change}
    with pytest.raises(SpecError, match=message):
        ReleaseSpec.from_dict(raw)


def test_forwarded_headers_append_the_client_and_drop_hop_by_hop() -> None:
    headers = [
        (b"host", b"shop"),
        (b"connection", b"keep-alive, x-secret-hop"),
        (b"x-secret-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"forwarded", b"for=10.0.0.1"),
        (b"accept", b"*/*"),
    ]
    out = dict(forwarded_headers(headers, "127.0.0.1"))
    assert out == {
        b"host": b"shop",
        b"accept": b"*/*",
        b"x-forwarded-for": b"10.0.0.1, 127.0.0.1",
        b"forwarded": b"for=10.0.0.1, for=127.0.0.1",
        b"x-forwarded-proto": b"http",
    }
    ipv6 = dict(forwarded_headers([(b"x-forwarded-proto", b"https")], "::1"))
    assert ipv6[b"forwarded"] == b'for="[::1]"' and ipv6[b"x-forwarded-proto"] == b"https"


def test_response_headers_keep_framing_and_drop_connection_ones() -> None:
    headers = [
        (b"transfer-encoding", b"chunked"),
        (b"connection", b"close"),
        (b"content-type", b"text/plain"),
    ]
    assert response_headers(headers) == [
        (b"transfer-encoding", b"chunked"),
        (b"content-type", b"text/plain"),
    ]


def test_round_robin_starts_at_the_next_copy_and_falls_back_to_the_others() -> None:
    async def check() -> None:
        backends = Backends("r", [1, 2, 3])
        orders = [[port for _, port in backends.order()] for _ in range(4)]
        assert orders == [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]]
        backends.begin()
        assert not await backends.drain(0.01)
        backends.end()
        assert await backends.drain(0.01)

    asyncio.run(check())


STATUSES: tuple[DeploymentStatus, ...] = get_args(DeploymentStatus)


@pytest.mark.parametrize(("current", "wanted"), list(itertools.product(STATUSES, STATUSES)))
def test_next_status_lets_the_first_writer_win_except_a_rollback(
    current: DeploymentStatus, wanted: DeploymentStatus
) -> None:
    result = next_status(current, wanted)
    if wanted == "in_progress" or current == wanted:
        assert result is None
    elif current == "in_progress":
        assert result == wanted
    elif (current, wanted) == ("succeeded", "rolled_back"):
        assert result == "rolled_back"
    else:
        assert result is None


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (("succeeded", "rolled_back"), "rolled_back"),
        (("rolled_back", "succeeded"), "rolled_back"),
        (("failed", "succeeded"), "failed"),
        (("succeeded", "failed"), "succeeded"),
    ],
)
def test_two_writers_end_in_the_same_state(
    order: tuple[DeploymentStatus, DeploymentStatus], final: DeploymentStatus
) -> None:
    current: DeploymentStatus = "in_progress"
    for wanted in order:
        current = next_status(current, wanted) or current
    assert current == final


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8604", "127.0.0.1"),
        ("http://0.0.0.0:80", "0.0.0.0"),
        ("http://shop.example:8604", "127.0.0.1"),
        ("http://[::1]:8604", "::1"),
    ],
)
def test_the_proxy_listens_on_the_urls_address(url: str, host: str) -> None:
    assert _listen_host(url) == host
