"""run, up and releases named by tag: the use cases with a fake target (milliseconds)."""

from __future__ import annotations

import pytest

from stageline.config.model import Environment, Postgres, Services
from stageline.config.resolve import PostgresFacts
from stageline.decisions.access import AccessRefused
from stageline.errors import UsageError
from stageline.usecases import deploy as usecases
from stageline.usecases import everyday
from stageline.usecases.pipeline import find_artifact
from stageline.usecases.status import down, history
from tests.usecases.conftest import World

DATABASE = PostgresFacts("127.0.0.1", 15432, "shop", "pw-s3cret-9", "shop_development")


def test_run_gets_the_services_variables_and_is_audited_with_secrets_masked(
    world: World,
) -> None:
    world.fakes.script("development", backing=DATABASE, command_exit=3)
    artifact = world.artifact("1.0.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    argv = ["psql", DATABASE.url, "-c", "select 1"]
    ran = everyday.run_command(world.session, "development", argv)
    fake = world.fakes["development"]
    assert ran.exit_code == 3 and ran.release.name == "v1.0.0"
    assert fake.calls[-1].name == "run_interactive" and fake.calls[-1].args == tuple(argv)
    got = fake.command_variables
    assert got["DATABASE_URL"] == DATABASE.url and got["APP_ENV"] == "development"
    assert got["STAGELINE_DIGEST"] == artifact.digest
    started, finished = world.events("run.started"), world.events("run.finished")
    assert ran.place == "none"  # development declares no PostgreSQL: nothing to copy
    assert started == [{"argv": ["psql", "postgresql://shop:****@127.0.0.1:15432/shop_development",
                                 "-c", "select 1"], "live": False}]  # fmt: skip
    assert finished == [{**started[0], "exit": 3}]
    assert "pw-s3cret-9" not in str(world.store.events(limit=100))


def test_run_refuses_where_nothing_is_deployed_and_without_a_command(world: World) -> None:
    with pytest.raises(UsageError, match="nothing is deployed in staging"):
        everyday.run_command(world.session, "staging", ["python"])
    with pytest.raises(UsageError, match="no command to run"):
        everyday.run_command(world.session, "staging", [])
    assert world.events("run.started") == []


def test_run_in_production_follows_its_deploy_rule(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.artifact("1.0.0")
    usecases.deploy(world.session, "production", "v1.0.0", force=True)
    monkeypatch.setenv("STAGELINE_USER", "ana@shop.example")  # not in group:leads
    with pytest.raises(AccessRefused, match=r"production\.access\.promote allows group:leads"):
        everyday.run_command(world.session, "production", ["python"])
    refused = world.events("access.refused")[-1]
    assert refused["action"] == "run" and world.events("run.started") == []
    monkeypatch.setenv("STAGELINE_USER", "olga@shop.example")
    assert everyday.run_command(world.session, "production", ["python"]).exit_code == 0


def with_postgres(env: Environment) -> Environment:
    return env.model_copy(update={"services": Services(postgres=Postgres())})


def test_run_goes_to_a_copy_unless_asked_and_live_needs_more_rights(world: World) -> None:
    pipe = world.session.pipeline()
    bare = pipe.environment("development")
    with_db = with_postgres(bare)
    production = with_postgres(pipe.environment("production"))
    copy = everyday.plan_run(with_db, live=False)
    assert (copy.place, copy.actions) == ("copy", ("run",))
    assert copy.says == "on a copy of development's database; pass --live to change the live data"
    live = everyday.plan_run(with_db, live=True)
    assert (live.place, live.actions) == ("live", ("run_live",))
    none = everyday.plan_run(bare, live=False)
    assert none.place == "none" and "no PostgreSQL database: no copy needed" in none.says
    assert everyday.plan_run(production, live=False).actions == ("run",)
    assert everyday.plan_run(production, live=True).actions == ("run_live", "force")


def test_run_live_in_production_needs_the_force_rule_too(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.artifact("1.0.0")
    usecases.deploy(world.session, "production", "v1.0.0", force=True)
    text = (world.root / "stageline.toml").read_text()
    world.write_pipeline(text + 'force = ["max@shop.example"]\n')
    world.session.reload()
    with pytest.raises(AccessRefused, match=r"production\.access\.force allows max@shop"):
        everyday.run_command(world.session, "production", ["python"], live=True)
    refused = world.events("access.refused")[-1]
    assert refused["action"] == "force" and world.events("run.started") == []
    ran = everyday.run_command(world.session, "production", ["python"])  # olga: deploy rule
    assert ran.exit_code == 0 and world.events("run.started")[-1]["live"] is False
    world.write_pipeline(text + 'force = ["olga@shop.example"]\n')
    world.session.reload()
    ran = everyday.run_command(world.session, "production", ["python"], live=True)
    assert ran.place == "none" and world.events("run.finished")[-1] == {
        "argv": ["python"], "live": True, "exit": 0,
    }  # fmt: skip
    monkeypatch.setenv("STAGELINE_USER", "max@shop.example")  # force, but not deploy
    with pytest.raises(AccessRefused, match=r"production\.access\.promote allows group:leads"):
        everyday.run_command(world.session, "production", ["python"], live=True)
    assert world.events("access.refused")[-1]["action"] == "run_live"


def test_up_after_down_starts_the_same_digest_again_once(world: World) -> None:
    artifact = world.artifact("1.0.0")
    usecases.deploy(world.session, "development", "v1.0.0")
    assert down(world.session, "development") == ["development"]
    fake = world.fakes["development"]
    (again,) = everyday.up(world.session)  # every environment with a deployment
    assert again.started and again.environment == "development"
    assert fake.served == [artifact.digest, artifact.digest] and not fake.stopped
    assert world.events("environment.up") == [{"deployment": 1}]
    (still,) = everyday.up(world.session, "development")
    assert not still.started and fake.names().count("start") == 2
    with pytest.raises(UsageError, match="nothing is deployed in staging"):
        everyday.up(world.session, "staging")


def test_a_version_naming_two_builds_is_refused_listing_their_tags(world: World) -> None:
    first = world.artifact("0.1.0", tag="v0.1.0")
    second = world.artifact("0.1.0", tag="release-2")
    with pytest.raises(UsageError, match=r"'0\.1\.0' names 2 builds: ") as refused:
        find_artifact(world.session, "0.1.0")
    assert "v0.1.0 (sha256:" in str(refused.value) and "release-2 (sha256:" in str(refused.value)
    assert "tag" in (refused.value.hint or "")
    assert find_artifact(world.session, "v0.1.0") == first
    assert find_artifact(world.session, "release-2") == second
    assert find_artifact(world.session, second.digest[:19]) == second


def test_rollback_to_a_tag_and_history_name_releases_by_tag(world: World) -> None:
    world.artifact("0.1.0", tag="v0.1.0")
    world.artifact("0.1.0", tag="release-2")
    usecases.deploy(world.session, "development", "v0.1.0")
    usecases.deploy(world.session, "development", "release-2")
    with pytest.raises(UsageError, match="names 2 builds"):
        usecases.plan_rollback(world.session, "development", to="0.1.0")
    back = usecases.rollback(world.session, "development", to="v0.1.0")
    assert back.plan.artifact.name == "v0.1.0"
    assert [release.label for _, release in history(world.session, "development")] == [
        "v0.1.0", "release-2", "v0.1.0",
    ]  # fmt: skip


def test_rollback_to_a_tag_built_twice_takes_the_build_that_ran_there(world: World) -> None:
    ran = world.artifact("0.1.0", tag="v0.1.0")
    world.artifact("0.1.1", tag="v0.2.0")
    usecases.deploy(world.session, "development", ran.digest)
    usecases.deploy(world.session, "development", "v0.2.0")
    rebuilt = world.artifact("0.1.0+rebuilt", tag="v0.1.0")  # the tag's newer build
    assert find_artifact(world.session, "v0.1.0") == rebuilt
    back = usecases.plan_rollback(world.session, "development", to="v0.1.0", dry_run=True)
    assert back.artifact == ran
