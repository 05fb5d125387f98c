"""The watch window judges health over a stretch: a slow answer within ``check_timeout``
is no failure, and only ``failures`` failed checks in a row switch the previous release
back (real agent, processes, HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.agent.client import AgentClient
from stageline.agent.release import ReleaseSpec
from stageline.agent.spec import SpecError
from stageline.state import Store

from .helpers import ReleaseFactory, free_port
from .test_switch import deployment, fetch, status_of, store

pytestmark = pytest.mark.slow
__all__ = ["store"]  # the fixture, used by name


def with_checks(spec: ReleaseSpec, check_timeout: float, failures: int) -> ReleaseSpec:
    return ReleaseSpec(
        spec.template,
        processes=spec.processes,
        drain_timeout=spec.drain_timeout,
        watch=spec.watch,
        health_timeout=spec.health_timeout,
        check_timeout=check_timeout,
        failures=failures,
    )


def test_health_checks_slower_than_two_seconds_do_not_fail_the_watch(
    client: AgentClient, make_release: ReleaseFactory, store: Store
) -> None:
    port = free_port()
    client.switch(make_release(public_port=port))
    ref = deployment(store, "sha256:r2")
    slow = make_release(
        "sha256:r2", public_port=port, watch=9, APP_HEALTH_AFTER="1", APP_HEALTH_DELAY="2.5"
    )
    client.switch(with_checks(slow, check_timeout=5, failures=3), deployment=ref)
    settled = client.outcome("staging", timeout=60)
    assert settled["outcome"]["status"] == "succeeded", settled["outcome"]
    assert settled["serving"] == "sha256:r2" and fetch(port)["version"] == "sha256:r2"
    assert status_of(store, ref)[0] == "succeeded"


def test_failures_in_a_row_switch_the_previous_release_back_naming_them(
    client: AgentClient, make_release: ReleaseFactory, store: Store, home: Path
) -> None:
    port = free_port()
    first = deployment(store, "sha256:r1")
    client.switch(make_release(public_port=port), deployment=first)
    store.finish_deployment(first.id, "succeeded")
    ref = deployment(store, "sha256:r2")
    failing = make_release(
        "sha256:r2", public_port=port, watch=60, APP_HEALTH_AFTER="1", APP_HEALTH_STATUS_AFTER="503"
    )
    client.switch(with_checks(failing, check_timeout=1, failures=2), deployment=ref)
    settled = client.outcome("staging", timeout=60)
    assert settled["outcome"]["status"] == "rolled_back" and settled["serving"] == "sha256:r1"
    status, detail = status_of(store, ref)
    assert status == "rolled_back"
    assert "failed 2 health checks in a row" in detail and "last: 503" in detail
    assert fetch(port)["version"] == "sha256:r1"


def test_the_watch_settings_travel_in_the_spec_and_older_state_gets_the_defaults(
    make_release: ReleaseFactory,
) -> None:
    spec = with_checks(make_release(public_port=8000), check_timeout=7.5, failures=4)
    again = ReleaseSpec.from_dict(spec.to_dict())
    assert (again.check_timeout, again.failures) == (7.5, 4)
    older = {k: v for k, v in spec.to_dict().items() if k not in ("check_timeout", "failures")}
    assert (ReleaseSpec.from_dict(older).check_timeout, ReleaseSpec.from_dict(older).failures) == (
        5.0,
        3,
    )
    with pytest.raises(SpecError, match="must be positive"):
        ReleaseSpec.from_dict({**spec.to_dict(), "failures": 0})
