"""The time gap and the personnel gap, from constructed histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from stageline.config import load_pipeline
from stageline.parity.gap import People, personnel, personnel_gap, time_gap
from stageline.state import ArtifactRecord, DeploymentRecord

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def artifact(version: str, day: int) -> ArtifactRecord:
    return ArtifactRecord(
        digest=f"sha256:{version}", service="shop", version=version, tag=f"v{version}", ref="r",
        commit=version, commit_time=T0 + timedelta(days=day), built_at=T0 + timedelta(days=day),
        built_by="ci", host="h", size_bytes=1, path="/x",
    )  # fmt: skip


def dep(id_: int, env: str, version: str, day: float, actor: str = "ana", status: str = "succeeded",
        kind: str = "deploy") -> DeploymentRecord:  # fmt: skip
    when = T0 + timedelta(days=day)
    return DeploymentRecord(
        id_,
        env,
        f"sha256:{version}",
        kind,
        status,
        actor,
        when,
        when,
        None,
        "",  # type: ignore[arg-type]
    )


ARTIFACTS = {a.digest: a for a in (artifact("1.0", 0), artifact("1.1", 2), artifact("1.2", 4))}


def test_versions_waiting_and_the_age_of_the_oldest() -> None:
    history = [
        dep(1, "staging", "1.0", 0.5),
        dep(2, "production", "1.0", 1),
        dep(3, "staging", "1.1", 2.5),
        dep(4, "staging", "1.2", 4.5),
        dep(5, "staging", "1.1", 5),  # 1.1 again: it arrived at day 2.5
        dep(6, "staging", "1.2", 5.5, status="failed"),
    ]
    gap = time_gap("staging", "production", history, ARTIFACTS, T0 + timedelta(days=6), commits=7)
    assert [w.version for w in gap.waiting] == ["1.1", "1.2"]
    assert gap.oldest_age_seconds == timedelta(days=3.5).total_seconds()
    assert gap.commits == 7
    assert gap.summary() == (
        "staging is 2 version(s), 7 commit(s) ahead of production; "
        "the oldest waiting (1.1) arrived 3d12h ago"
    )


def test_nothing_waits_once_production_caught_up_and_older_releases_do_not_count() -> None:
    history = [
        dep(1, "staging", "1.0", 0.5),
        dep(2, "staging", "1.1", 2.5),
        dep(3, "production", "1.1", 3),
    ]
    gap = time_gap("staging", "production", history, ARTIFACTS, T0 + timedelta(days=6), commits=3)
    assert gap.waiting == () and gap.commits == 0 and gap.oldest_age_seconds is None
    assert gap.summary() == "staging is not ahead of production: nothing waits"


def test_an_empty_production_has_everything_waiting() -> None:
    gap = time_gap("staging", "production", [dep(1, "staging", "1.0", 0)], ARTIFACTS, T0)
    assert [w.version for w in gap.waiting] == ["1.0"] and gap.commits is None
    assert gap.to_json()["oldest_age_seconds"] == 0.0


SHOP = Path(__file__).parents[2] / "examples" / "shop"


def test_personnel_from_the_example_pipeline_and_history() -> None:
    pipe = load_pipeline(SHOP)
    history = [
        dep(1, "staging", "1.0", 0, actor="ana"),
        dep(2, "staging", "1.1", 1, actor="ana"),
        dep(3, "staging", "1.1", 1, actor="ben"),
        dep(4, "production", "1.0", 2, actor="ops"),
    ]
    people = {p.environment: p for p in personnel(pipe, history)}
    staging, production = people["staging"], people["production"]
    assert staging.approvers == ("ana@shop.example", "ben@shop.example", "chen@shop.example")
    assert staging.may_approve.startswith("2 of ana@shop.example") and "not the deployer" in (
        staging.may_approve
    )
    assert staging.deployed_by == ("ana", "ben")
    assert production.approvers is None and production.may_approve == "nobody signs off here"
    notes = personnel_gap(staging, production)
    assert notes[0] == "deployed production but never staging: ops"
    assert notes == [
        "deployed production but never staging: ops",
        "deployed staging but never production: ana, ben",
    ]  # approval rules are shown, not compared


def test_no_personnel_gap_between_alike_environments() -> None:
    a = People("a", (), 1, True, ("ana",))
    b = People("b", (), 1, True, ("ana",))
    assert personnel_gap(a, b) == [] and a.may_approve == "1 of anyone"


def test_written_access_rules_show_who_may_deploy_and_promote(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "shop"\nstart = "true"\n'
        '[people.groups]\nleads = ["lee@shop.example", "max@shop.example"]\n'
        '[environments.staging]\ntier = "staging"\ntarget = { kind = "local", port = 18701 }\n'
        '[environments.production]\ntier = "production"\n'
        'target = { kind = "local", port = 18702 }\n'
        '[environments.production.access]\npromote = ["group:leads"]\n'
    )
    people = {p.environment: p for p in personnel(load_pipeline(tmp_path), [])}
    assert people["staging"].may_deploy == "anyone (no rule)"
    production = people["production"]
    assert production.promote_rule == ("lee@shop.example", "max@shop.example")
    assert production.deploy_rule == production.promote_rule  # unwritten deploy follows
    assert production.may_deploy == "lee@shop.example, max@shop.example"
    assert production.to_json()["deploy_rule"] == ["lee@shop.example", "max@shop.example"]
    assert personnel_gap(people["staging"], production) == [
        "may deploy staging: anyone (no rule); production: lee@shop.example, max@shop.example"
    ]
