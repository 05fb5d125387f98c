"""ship, verify and status with the fake target: what each records and says."""

from __future__ import annotations

import pytest

from stageline.errors import Held, UsageError
from stageline.usecases import deploy as usecases
from stageline.usecases import status as observe
from stageline.usecases.verification import verify
from tests.usecases.conftest import PIPELINE, World

AUTO_PRODUCTION = PIPELINE.replace('promotion = "manual"', 'promotion = "auto"')


def test_ship_deploys_first_and_promotes_through_every_automatic_environment(
    world: World,
) -> None:
    artifact = world.artifact("1.0.0")
    done = usecases.ship(world.session, "v1.0.0")
    assert [d.plan.environment for d in done] == ["development", "staging"]
    assert {d.plan.artifact.digest for d in done} == {artifact.digest}
    assert world.store.deployments("production") == []  # manual: a person promotes


def test_ship_runs_the_gates_before_leaving_and_a_hold_stops_it(world: World) -> None:
    world.write_pipeline(AUTO_PRODUCTION)
    world.artifact("1.0.0")
    stages: list[str] = []
    with pytest.raises(Held, match="approval"):
        usecases.ship(world.session, "v1.0.0", progress=stages.append)
    assert "running staging's gates" in stages
    [run] = world.store.gate_runs("staging")
    assert run.gate == "smoke" and run.status == "passed"
    assert world.store.deployments("production") == []
    with pytest.raises(Held):  # the same without a progress callback
        usecases.ship(world.session, "v1.0.0")
    assert len(world.store.gate_runs("staging")) == 2


def test_verify_runs_the_gates_against_the_running_digest(world: World) -> None:
    artifact = world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    report = verify(world.session, "staging")
    assert report.digest == artifact.digest and set(report.runs) == {"smoke"}
    assert report.runs["smoke"].status == "passed"
    assert world.events("gate.passed")[0]["gate"] == "smoke"


def test_verify_records_a_failing_gate(world: World) -> None:
    world.write_pipeline(PIPELINE.replace('run = "true"', 'run = "false"'))
    world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    report = verify(world.session, "staging")
    assert report.runs["smoke"].status == "failed"
    with pytest.raises(Held, match="smoke"):
        usecases.promote(world.session, "staging")


def test_verify_refuses_what_it_cannot_run(world: World) -> None:
    with pytest.raises(UsageError, match=r"nothing is deployed|not deployed"):
        verify(world.session, "staging")
    world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    with pytest.raises(UsageError, match="unknown gate 'nope'; valid: smoke, signoff"):
        verify(world.session, "staging", gate="nope")
    with pytest.raises(UsageError, match="no gates to run"):
        verify(world.session, "development")


def test_status_asks_each_target_for_its_health(world: World) -> None:
    artifact = world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    world.fakes.script("staging", health="unhealthy")
    state = observe.status(world.session)
    rows = {e.name: e for e in state.environments}
    assert rows["development"].health == "healthy"
    release = rows["development"].release
    assert release is not None and release.digest == artifact.digest
    assert rows["staging"].health == "unhealthy"
    assert rows["production"].health == "not deployed"
    assert state.signoff.source == "staging"
    assert not state.signoff.promote
    assert ("health", ("/healthz",)) in [(c.name, c.args) for c in world.fakes["staging"].calls]


def test_down_stops_every_environment_through_its_target(world: World) -> None:
    world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    stopped = observe.down(world.session)
    assert stopped == ["staging", "development"]
    assert world.fakes["staging"].stopped and "stop_backing" in world.fakes["staging"].names()
    rows = {e.name: e for e in observe.status(world.session).environments}
    assert rows["staging"].health == "down"
    assert len(world.events("environment.down")) == 2


def test_environment_config_reads_backing_facts_without_starting_them(world: World) -> None:
    world.artifact("1.0.0")
    usecases.ship(world.session, "v1.0.0")
    shown = observe.environment_config(world.session, "staging")
    assert shown["APP_ENV"] == "staging"
    assert world.fakes["staging"].calls[-1].args == ("facts",)
