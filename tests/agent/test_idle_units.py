"""Scale to zero's decisions (pure), its setting in the pipeline file and on the wire, and
what ``stageline status`` makes of an idle environment (without waking it)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.agent.idle import IdleClock, poll_interval, should_scale_down, wake_timeout
from stageline.agent.proxy import Backends, Proxy
from stageline.agent.release import EnvState, Group, ReleaseSpec
from stageline.agent.spec import SpecError
from stageline.config import load_pipeline
from stageline.targets.base import Health, ServiceStatus
from stageline.usecases.status import observe
from tests.config.test_loader import VALID, issues_of, write

from .helpers import ReleaseFactory, free_port


def test_poll_interval_is_a_tenth_of_the_idle_time_within_bounds() -> None:
    assert poll_interval(600) == 5.0
    assert poll_interval(20) == 2.0
    assert poll_interval(1) == 0.2
    assert poll_interval(None) == 5.0  # unset: looks now and then (a next release may set it)


@pytest.mark.parametrize(
    ("after", "idle_for", "in_flight", "busy", "expected"),
    [
        (600, 600.0, 0, False, True),
        (600, 599.9, 0, False, False),  # not yet
        (None, 10_000.0, 0, False, False),  # never set
        (600, 900.0, 1, False, False),  # a long request is still going
        (600, 900.0, 0, True, False),  # a switch, a drain or a watch window
    ],
    ids=["quiet long enough", "not yet", "unset", "in flight", "busy"],
)
def test_should_scale_down(
    after: float | None, idle_for: float, in_flight: int, busy: bool, expected: bool
) -> None:
    assert should_scale_down(after, idle_for, in_flight, busy) is expected


def test_a_held_request_waits_the_health_timeout_and_a_margin() -> None:
    assert wake_timeout(60) == 70.0


def test_idle_clock_restarts_at_a_look_that_saw_traffic() -> None:
    clock = IdleClock(now=100.0)
    assert clock.look(requests=0, in_flight=0, now=105.0) == 5.0
    assert clock.look(requests=3, in_flight=0, now=106.0) == 0.0  # requests came meanwhile
    assert clock.look(requests=3, in_flight=0, now=110.0) == 4.0
    assert clock.look(requests=3, in_flight=1, now=200.0) == 0.0  # a long request in flight
    assert clock.look(requests=3, in_flight=0, now=201.0) == 1.0
    clock.restart(now=300.0)  # the front routes to a woken release
    assert clock.look(requests=3, in_flight=0, now=300.5) == 0.5


def test_the_setting_travels_in_the_release_spec_and_the_state(
    make_release: ReleaseFactory,
) -> None:
    spec = replace(make_release(public_port=8080), scale_to_zero_after=600.0)
    assert ReleaseSpec.from_dict(spec.to_dict()) == spec
    older = spec.to_dict()
    del older["scale_to_zero_after"]  # what an agent before scale to zero wrote
    assert ReleaseSpec.from_dict(older).scale_to_zero_after is None
    with pytest.raises(SpecError, match="scale_to_zero_after"):
        ReleaseSpec.from_dict({**spec.to_dict(), "scale_to_zero_after": 0})
    state = EnvState(Group(spec, (9001,)), idle=True)
    assert EnvState.from_dict(state.to_dict()) == state
    assert not EnvState.from_dict({"serving": None}).idle


def test_the_pipeline_file_sets_it_per_environment_or_in_defaults(tmp_path: Path) -> None:
    text = VALID.replace("[defaults]\n", "[defaults]\nscale_to_zero_after = 600\n", 1)
    pipeline = load_pipeline(write(tmp_path, text))
    assert {env.scale_to_zero_after for env in pipeline.environments} == {600}
    plain = load_pipeline(write(tmp_path, VALID)).environment("staging")
    assert plain.scale_to_zero_after is None


def test_restart_strategy_cannot_scale_to_zero(tmp_path: Path) -> None:
    text = VALID.replace(
        "[defaults]\n", '[defaults]\nscale_to_zero_after = 60\nstrategy = "restart"\n', 1
    )
    issues = issues_of(tmp_path, text)
    assert any('scale_to_zero_after needs strategy = "blue-green"' in i for i in issues), issues


class IdleTarget:
    """Just enough of a target for ``observe``: scaled to zero, and a health check
    that would wake it (and is counted)."""

    def __init__(self) -> None:
        self.checks = 0

    def status(self) -> ServiceStatus:
        return ServiceStatus("review", "sha256:abc", "idle", False, None, 9100, 0, None)

    def health(self, path: str, *, timeout: float) -> Health:
        self.checks += 1
        return "healthy"


def test_status_reports_an_idle_environment_without_waking_it() -> None:
    target = IdleTarget()
    seen = observe(target, "/health")  # type: ignore[arg-type]
    assert (seen.health, seen.serving, target.checks) == ("idle", "sha256:abc", 0)


def test_a_request_held_for_a_wake_that_fails_gets_503_with_retry_after() -> None:
    woken: list[bool] = []

    async def not_in_time() -> Backends | None:
        woken.append(True)
        return None

    async def run() -> bytes:
        proxy = Proxy("127.0.0.1", free_port())
        proxy.waker = not_in_time
        await proxy.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
            return answer
        finally:
            await proxy.close()

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 503") and woken == [True]
    assert b"retry-after: 5\r\n" in answer.lower()
    assert answer.endswith(b"the environment was idle and did not start in time; retry\n")
