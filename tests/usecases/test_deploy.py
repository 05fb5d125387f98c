"""deploy: plan, then execute, with a fake target; every hold, refusal and failure path."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from stageline.decisions.access import AccessRefused
from stageline.errors import ArtifactNotFound, DeployFailed, Held, LockHeld, UsageError
from stageline.targets.base import Target
from stageline.targets.fake import FakeTarget
from stageline.targets.local import LocalTarget
from stageline.usecases import deploy as usecases
from tests.usecases.conftest import PIPELINE, World


def test_a_deploy_prepares_runs_the_release_command_starts_and_records(world: World) -> None:
    artifact = world.artifact("1.0.0")
    done = usecases.deploy(world.session, "development", "v1.0.0")
    fake = world.fakes["development"]
    assert fake.names() == ["prepare", "backing", "run", "start", "prune"]
    assert fake.served == [artifact.digest]
    assert done.deployment.status == "succeeded" and done.deployment.kind == "deploy"
    assert done.release_command is not None and done.release_command.ok
    assert world.store.current_deployment("development").digest == artifact.digest  # type: ignore[union-attr]
    assert world.events("deploy.succeeded") == [{"deployment": done.deployment.id}]


def test_the_fake_and_local_targets_follow_the_whole_protocol(world: World) -> None:
    wanted = {name for name in vars(Target) if not name.startswith("_")}
    for kind in (FakeTarget, LocalTarget):
        assert wanted <= set(dir(kind)), (kind, wanted - set(dir(kind)))
    env = world.session.pipeline().environment("staging")
    target: Target = world.session.target(env, "shop")  # mypy checks the protocol here
    assert isinstance(target, FakeTarget) and target.health("/healthz", timeout=1) == "down"


def test_dry_run_plan_is_the_plan_execute_carries_out(world: World) -> None:
    world.artifact("1.0.0")
    the_plan = usecases.plan_deploy(world.session, "development", "v1.0.0", dry_run=True)
    assert "development" not in world.fakes  # planning touched no target
    assert the_plan.decision.allowed and the_plan.kind == "deploy"
    assert the_plan.steps[-1].startswith("start shop v1.0.0 and wait for")
    done = usecases.execute(world.session, the_plan)
    assert done.plan is the_plan
    with pytest.raises(AttributeError):
        the_plan.environment = "staging"  # type: ignore[misc]


def test_a_rollback_plan_skips_the_release_command(world: World) -> None:
    world.artifact("1.0.0")
    world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    usecases.deploy(world.session, "development", "v1.1.0")
    back = usecases.rollback(world.session, "development")
    assert back.plan.artifact.version == "1.0.0" and back.release_command is None
    assert world.fakes["development"].names().count("run") == 2


def test_a_failed_release_command_switches_nothing(world: World) -> None:
    world.artifact("1.0.0")
    world.fakes.script("development", release_exit=3)
    with pytest.raises(DeployFailed, match="exit code 3") as failed:
        usecases.deploy(world.session, "development", "v1.0.0")
    assert "nothing was switched" in (failed.value.hint or "")
    assert "start" not in world.fakes["development"].names()
    [record] = world.store.deployments("development")
    assert record.status == "failed" and "exit code 3" in record.detail
    assert str(world.events("deploy.failed")[0]["reason"]).startswith("release command")


@pytest.mark.parametrize(
    ("outcome", "words"),
    [("fails-health", "health check did not pass"), ("crashes", "it exited"),
     ("busy-port", "port 18701 of development is in use")],
)  # fmt: skip
def test_a_start_that_fails_is_recorded_failed_with_its_log_tail(
    world: World, outcome: str, words: str
) -> None:
    world.artifact("1.0.0")
    world.fakes.script("development", start=outcome)
    with pytest.raises(DeployFailed, match=words):
        usecases.deploy(world.session, "development", "v1.0.0")
    [record] = world.store.deployments("development")
    assert record.status == "failed" and words in record.detail
    assert world.store.current_deployment("development") is None


def test_a_failed_start_keeps_the_previous_release_current(world: World) -> None:
    first = world.artifact("1.0.0")
    world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    world.fakes.script("development", start="fails-health")
    with pytest.raises(DeployFailed, match="health check did not pass") as failed:
        usecases.deploy(world.session, "development", "v1.1.0")
    assert "the previous release keeps serving" in (failed.value.hint or "")
    assert world.store.current_deployment("development").digest == first.digest  # type: ignore[union-attr]
    assert world.fakes["development"].served == [first.digest]


def test_a_slow_start_still_succeeds(world: World) -> None:
    world.artifact("1.0.0")
    world.fakes.script("development", start="slow", slow_seconds=45.0)
    done = usecases.deploy(world.session, "development", "v1.0.0")
    assert done.deployment.status == "succeeded" and world.fakes["development"].clock == 45.0


def test_lock_contention_refuses_and_records_nothing(world: World) -> None:
    world.artifact("1.0.0")
    with (
        world.store.lock("deploy:development", holder="max@shop.example"),
        pytest.raises(LockHeld, match=r"max@shop\.example"),
    ):
        usecases.deploy(world.session, "development", "v1.0.0")
    assert world.store.deployments("development") == []
    assert "development" not in world.fakes


def test_an_interrupted_deployment_is_settled_by_the_next_one(world: World) -> None:
    first = world.artifact("1.0.0")
    world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    stale = world.store.start_deployment("development", first.digest, actor=ACTOR_B, kind="deploy")
    world.store.start_deployment("development", first.digest, actor=ACTOR_B, kind="deploy")
    usecases.deploy(world.session, "development", "v1.1.0")
    statuses = {d.id: d.status for d in world.store.deployments("development")}
    assert statuses[stale.id] == "succeeded"  # the agent serves its digest
    assert list(statuses.values()).count("in_progress") == 0


def test_an_interrupted_deployment_of_another_digest_is_settled_failed(world: World) -> None:
    first = world.artifact("1.0.0")
    other = world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    stale = world.store.start_deployment("development", other.digest, actor=ACTOR_B, kind="deploy")
    settled = usecases.reconcile(
        world.session, world.session.pipeline().environment("development"), "shop"
    )
    assert [(d.id, d.status) for d in settled] == [(stale.id, "failed")]
    assert "interrupted" in settled[0].detail and first.digest


def test_direct_deploy_to_production_is_held_with_every_reason(world: World) -> None:
    world.artifact("1.0.0")
    with pytest.raises(Held) as held:
        usecases.deploy(world.session, "production", "v1.0.0")
    assert "has not run in staging" in str(held.value)
    assert world.store.deployments("production") == []
    assert "production" not in world.fakes


def test_a_dry_run_of_a_held_deploy_returns_the_held_plan(world: World) -> None:
    world.artifact("1.0.0")
    the_plan = usecases.plan_deploy(world.session, "production", "v1.0.0", dry_run=True)
    assert not the_plan.decision.allowed and the_plan.entry is not None
    assert any("has not run in staging" in r for r in the_plan.decision.reasons)


def test_break_glass_deploys_and_audits_what_it_overrode(world: World) -> None:
    world.artifact("1.0.0")
    done = usecases.deploy(world.session, "production", "v1.0.0", force=True)
    assert done.deployment.kind == "force" and done.plan.decision.break_glass
    [audit] = world.events("deploy.break_glass")
    assert audit["deployment"] == done.deployment.id


def test_access_rules_refuse_before_anything_is_planned(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.artifact("1.0.0")
    monkeypatch.setenv("STAGELINE_USER", "zoe@shop.example")
    with pytest.raises(AccessRefused, match=r"production\.access\.promote"):
        usecases.deploy(world.session, "production", "v1.0.0", force=True)
    assert world.store.deployments("production") == []


def test_an_unknown_ref_without_git_is_a_usage_error(world: World) -> None:
    with pytest.raises(UsageError, match="neither a stored artifact nor a git ref"):
        usecases.deploy(world.session, "development", "v9.9.9")


def test_a_whole_deploy_takes_milliseconds(world: World) -> None:
    world.artifact("1.0.0")
    started = time.monotonic()
    usecases.deploy(world.session, "development", "v1.0.0")
    assert time.monotonic() - started < 1.0


ACTOR_B = "max@shop.example"


def test_an_unknown_digest_is_not_built_but_refused(world: World) -> None:
    with pytest.raises(ArtifactNotFound):
        usecases.deploy(world.session, "development", "sha256:" + "0" * 64)


def test_a_plan_without_an_entry_decision_is_not_executed(world: World) -> None:
    world.artifact("1.0.0")
    the_plan = usecases.plan_deploy(world.session, "development", "v1.0.0")
    with pytest.raises(UsageError, match="carries no entry decision"):
        usecases.execute(world.session, replace(the_plan, entry=None))
    assert world.store.deployments("development") == []


def test_an_environment_with_postgres_gets_its_backing_first(world: World) -> None:
    world.write_pipeline(
        PIPELINE + "\n[environments.development.services.postgres]\n"
        'provider = "external"\nurl = "postgresql://shop:pw@127.0.0.1:5999/shop"\n'
    )
    world.artifact("1.0.0")
    stages: list[str] = []
    done = usecases.deploy(world.session, "development", "v1.0.0", progress=stages.append)
    assert any("PostgreSQL" in step for step in done.plan.steps)
    assert "starting development's PostgreSQL" in stages
    assert world.fakes["development"].names().index("backing") < world.fakes[
        "development"
    ].names().index("start")
