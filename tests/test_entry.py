"""The one entry decision (``stageline.usecases.entry.judge``): by example, then over every case."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stageline.config.model import Environment, Target, Tier
from stageline.decisions.policy import EntryFacts
from stageline.decisions.signoff import Hold, SignOff
from stageline.usecases.entry import Gated, judge

DIGEST = "sha256:" + "ab" * 32
PRODUCTION = Environment(
    name="production",
    tier=Tier.production,
    url="http://127.0.0.1:8104",
    target=Target(port=8104),
    accept=["v*"],
)


def signoff(*reasons: str) -> SignOff:
    holds = tuple(Hold(reason, f"clear {reason}") for reason in reasons)
    return SignOff(not holds, holds, (), 0, {}, False)


def facts(tag: str = "v1.0.0", proven: bool = True) -> EntryFacts:
    return EntryFacts(PRODUCTION, DIGEST, tag, "staging", proven)


FROZEN = Hold("production is frozen until 2026-12-27T00:00:00+00:00: holiday", "wait")


def test_a_held_sign_off_of_staging_holds_a_direct_deploy() -> None:
    entry = judge(facts(), [Gated("staging", signoff("0 of 2 approvals"))], [])
    assert not entry.allowed and entry.where == "staging"
    assert [(h.reason, h.clear) for h in entry.holds] == [
        ("0 of 2 approvals", "clear 0 of 2 approvals")
    ]
    held = entry.held("1.7.0")
    assert held.environment == "staging" and held.exit_code == 1
    assert "1.7.0 is held in staging: 0 of 2 approvals" in str(held)


def test_every_gated_environment_counts_and_earlier_ones_are_named() -> None:
    gated = [Gated("test", signoff("gate unit failed")), Gated("staging", signoff("gate smoke"))]
    entry = judge(facts(proven=False), gated, [FROZEN])
    assert [h.reason for h in entry.holds] == [
        entry.holds[0].reason,  # the order rule first
        "test: gate unit failed",
        "gate smoke",
        FROZEN.reason,
    ]
    assert "has not run in staging" in entry.holds[0].reason


def test_force_overrides_sign_off_and_order_but_not_tags_or_freezes() -> None:
    gated = [Gated("staging", signoff("gate smoke failed"))]
    forced = judge(facts(proven=False), gated, [], force=True)
    assert forced.allowed and forced.break_glass
    assert [h.reason for h in forced.overridden][1:] == ["gate smoke failed"]
    assert forced.decision().break_glass and forced.decision().allowed

    assert not judge(facts(tag="nightly"), gated, [], force=True).allowed
    assert not judge(facts(), gated, [FROZEN], force=True).allowed
    thawed = judge(facts(), gated, [FROZEN], force=True, override_freeze=True)
    assert thawed.allowed and thawed.freeze_overridden and thawed.break_glass


def test_force_with_nothing_to_override_is_an_ordinary_entry() -> None:
    entry = judge(facts(), [Gated("staging", signoff())], [], force=True)
    assert entry.allowed and not entry.break_glass and entry.overridden == ()


gated_st = st.lists(
    st.builds(
        Gated,
        environment=st.sampled_from(("development", "test", "staging")),
        signoff=st.lists(st.sampled_from(("a", "b", "c")), max_size=2).map(
            lambda reasons: signoff(*reasons)
        ),
    ),
    max_size=3,
)


@given(
    tag=st.sampled_from(("v1.0.0", "nightly")),
    proven=st.booleans(),
    gated=gated_st,
    frozen=st.booleans(),
    force=st.booleans(),
    override_freeze=st.booleans(),
)
def test_every_case(
    tag: str,
    proven: bool,
    gated: list[Gated],
    frozen: bool,
    force: bool,
    override_freeze: bool,
) -> None:
    entry = judge(
        facts(tag, proven),
        gated,
        [FROZEN] if frozen else [],
        force=force,
        override_freeze=override_freeze,
    )
    signed = all(g.signoff.promote for g in gated)
    fixed_ok = tag == "v1.0.0" and (not frozen or override_freeze)
    # allowed exactly when nothing stands that may not be overridden, and the rest was
    # either in order or forced
    assert entry.allowed is (fixed_ok and (force or (proven and signed)))
    assert entry.break_glass is (entry.allowed and not (proven and signed))
    sign_off_holds = sum(len(g.signoff.holds) for g in gated)
    if not force:
        assert len(entry.holds) == (
            (tag != "v1.0.0") + (not proven) + sign_off_holds + (frozen and not override_freeze)
        )
    assert entry.freeze_overridden is (frozen and override_freeze)
    assert entry.decision().reasons == [h.reason for h in entry.holds]


def test_a_commit_build_enters_no_pipeline_environment_even_with_force() -> None:
    """Only a tag the environment accepts enters the pipeline; a build of a branch head
    (``review open``) is held everywhere but in review environments, whatever --force."""
    built_from_branch = EntryFacts(PRODUCTION, DIGEST, None, "staging", True, branch="feature-x")
    entry = judge(built_from_branch, [], [], force=True)
    assert not entry.allowed and not entry.overridden
    reasons = [h.reason for h in entry.holds]
    assert any("built from feature-x (a commit, not a tag)" in r for r in reasons), reasons
    assert any("may enter only review environments" in r for r in reasons)
    tagged = judge(EntryFacts(PRODUCTION, DIGEST, "v1.0.0", "staging", True), [], [])
    assert tagged.allowed
