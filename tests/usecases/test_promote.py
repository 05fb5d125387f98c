"""promote and rollback: the sign-off along the path, access, freezes, the watch window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stageline.decisions.access import AccessRefused
from stageline.errors import DeployFailed, Held, UsageError
from stageline.usecases import deploy as usecases
from stageline.usecases.verification import give_verdict, verify
from tests.usecases.conftest import PIPELINE, World


def on_staging(world: World, version: str = "1.0.0") -> None:
    world.artifact(version)
    usecases.deploy(world.session, "development", f"v{version}")
    usecases.promote(world.session, "development")


def signed_off(world: World) -> None:
    verify(world.session, "staging")
    give_verdict(world.session, "staging", "approve", person="ana@shop.example")


def test_promote_moves_the_same_digest_to_the_next_environment(world: World) -> None:
    on_staging(world)
    development = world.store.current_deployment("development")
    staging = world.store.current_deployment("staging")
    assert development is not None and staging is not None
    assert staging.digest == development.digest and staging.kind == "promote"
    assert world.fakes["staging"].served == [staging.digest]


def test_promote_is_held_until_staging_signs_off(world: World) -> None:
    on_staging(world)
    with pytest.raises(Held) as held:
        usecases.promote(world.session, "staging")
    reasons = " | ".join(reason for reason, _ in held.value.holds)
    assert "smoke" in reasons and "approval" in reasons
    assert world.store.deployments("production") == []
    signed_off(world)
    done = usecases.promote(world.session, "staging")
    assert done.deployment.status == "succeeded" and done.plan.source == "staging"
    assert not done.plan.decision.break_glass


def test_a_promotion_that_skips_staging_is_held_by_staging_sign_off(world: World) -> None:
    world.artifact("1.0.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    the_plan = usecases.plan_promote(world.session, "development", to="production", dry_run=True)
    assert not the_plan.decision.allowed
    assert any("staging" in reason for reason in the_plan.decision.reasons)
    with pytest.raises(Held):
        usecases.execute(world.session, the_plan)
    assert world.store.deployments("production") == []


def test_promote_refuses_who_the_access_rule_leaves_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_staging(world)
    signed_off(world)
    monkeypatch.setenv("STAGELINE_USER", "zoe@shop.example")
    with pytest.raises(AccessRefused, match=r"production\.access\.promote"):
        usecases.promote(world.session, "staging")
    the_plan = usecases.plan_promote(world.session, "staging", dry_run=True)  # no rights asked
    assert the_plan.decision.allowed


def test_a_freeze_holds_promotion_and_override_freeze_passes_it_audited(world: World) -> None:
    now = datetime.now(UTC)
    world.write_pipeline(
        PIPELINE + "\n[[environments.production.freeze]]\n"
        f"start = {(now - timedelta(hours=1)).isoformat()}\n"
        f"end = {(now + timedelta(hours=1)).isoformat()}\n"
        'reason = "holiday"\n'
    )
    on_staging(world)
    signed_off(world)
    with pytest.raises(Held, match="holiday"):
        usecases.promote(world.session, "staging")
    done = usecases.promote(world.session, "staging", override_freeze=True)
    assert done.deployment.status == "succeeded"
    assert done.plan.entry is not None and done.plan.entry.freeze_overridden


def test_promote_break_glass_records_a_forced_deployment(world: World) -> None:
    on_staging(world)
    done = usecases.promote(world.session, "staging", force=True)
    assert done.deployment.kind == "force" and done.plan.decision.break_glass
    assert world.events("deploy.break_glass")[0]["deployment"] == done.deployment.id


@pytest.mark.parametrize(
    ("source", "to", "words"),
    [("staging", None, "nothing is deployed in staging"),
     ("production", None, "nothing is deployed in production"),
     ("development", "development", "does not come after development")],
)  # fmt: skip
def test_promote_refuses_a_path_that_is_not_one(
    world: World, source: str, to: str | None, words: str
) -> None:
    world.artifact("1.0.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    with pytest.raises(UsageError, match=words):
        usecases.promote(world.session, source, to=to)


def test_promote_from_the_last_environment_has_nowhere_to_go(world: World) -> None:
    on_staging(world)
    usecases.promote(world.session, "staging", force=True)
    with pytest.raises(UsageError, match="nowhere to promote to"):
        usecases.promote(world.session, "production")


def test_a_crash_in_the_watch_window_is_rolled_back(world: World) -> None:
    on_staging(world)
    signed_off(world)
    world.fakes.script("production", watch="crashes")
    with pytest.raises(DeployFailed, match="was rolled back in production") as failed:
        usecases.promote(world.session, "staging", wait=True)
    assert "crashed in the watch window" in str(failed.value)
    [record] = world.store.deployments("production")
    assert record.status == "rolled_back"
    assert world.fakes["production"].names()[-1] == "wait_watch"


def test_waiting_for_a_quiet_watch_window_reports_it(world: World) -> None:
    on_staging(world)
    signed_off(world)
    done = usecases.promote(world.session, "staging", wait=True)
    assert done.watched == "succeeded" and done.deployment.status == "succeeded"


def test_rollback_goes_back_to_the_previous_release(world: World) -> None:
    first = world.artifact("1.0.0")
    world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    usecases.deploy(world.session, "development", "v1.1.0")
    the_plan = usecases.plan_rollback(world.session, "development", dry_run=True)
    assert the_plan.artifact.digest == first.digest and the_plan.schema is not None
    done = usecases.execute(world.session, the_plan)
    assert done.deployment.kind == "rollback"
    assert world.store.current_deployment("development").digest == first.digest  # type: ignore[union-attr]


def test_rollback_to_a_named_release_and_its_refusals(world: World) -> None:
    world.artifact("1.0.0")
    world.artifact("1.1.0")
    with pytest.raises(UsageError, match="no earlier release"):
        usecases.rollback(world.session, "development")
    usecases.deploy(world.session, "development", "v1.0.0")
    with pytest.raises(UsageError, match="never ran in development"):
        usecases.rollback(world.session, "development", to="v1.1.0")
    usecases.deploy(world.session, "development", "v1.1.0")
    done = usecases.rollback(world.session, "development", to="v1.0.0")
    assert done.plan.artifact.version == "1.0.0"


def test_a_rollback_whose_start_fails_is_recorded_failed(world: World) -> None:
    world.artifact("1.0.0")
    world.artifact("1.1.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    usecases.deploy(world.session, "development", "v1.1.0")
    world.fakes.script("development", start="crashes")
    with pytest.raises(DeployFailed):
        usecases.rollback(world.session, "development")
    assert world.store.deployments("development")[0].status == "failed"


def test_rollback_is_refused_to_who_may_not(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    on_staging(world)
    usecases.promote(world.session, "staging", force=True)
    monkeypatch.setenv("STAGELINE_USER", "zoe@shop.example")
    with pytest.raises(AccessRefused):
        usecases.rollback(world.session, "production")


def test_a_crash_right_at_the_switch_is_rolled_back_without_waiting(world: World) -> None:
    on_staging(world)
    signed_off(world)
    world.fakes.script("production", watch="crashes-at-once")
    with pytest.raises(DeployFailed, match="was rolled back in production"):
        usecases.promote(world.session, "staging")
    [record] = world.store.deployments("production")
    assert record.status == "rolled_back"
    succeeded = [e["deployment"] for e in world.events("promote.succeeded")]
    assert record.id not in succeeded  # the rollback came first: never called a success


def test_a_watch_window_still_open_when_the_wait_ends_is_left_to_the_agent(world: World) -> None:
    on_staging(world)
    signed_off(world)
    world.fakes.script("production", watch="stays-open")
    done = usecases.promote(world.session, "staging", wait=True)
    assert done.watched is None and done.deployment.status == "succeeded"
