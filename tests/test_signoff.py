"""The sign-off decision: each rule by example, then its invariants over generated facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stageline.config.model import Freeze
from stageline.decisions.pins import GatePin, pin_from_parts
from stageline.decisions.signoff import (
    ApprovalRule,
    GateRun,
    SignOff,
    SignOffFacts,
    Verdict,
    expand,
    may_review,
    sign_off,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=72)
D1, D2, D3 = ("sha256:" + c * 64 for c in "abc")
SHORT = D1[:19]
GROUPS = {"qa": ("carol@x", "Dave@x")}


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def run(gate: str = "smoke", status: str = "passed", hours: float = 1, **kw: str) -> GateRun:
    fields = {"environment": "staging", "digest": D1, "summary": "ok"} | kw
    return GateRun(gate=gate, status=status, finished_at=ago(hours), **fields)  # type: ignore[arg-type]


def verdict(person: str, kind: str = "approve", hours: float = 1, **kw: object) -> Verdict:
    fields: dict[str, object] = {"environment": "staging", "digest": D1} | kw
    return Verdict(person=person, kind=kind, at=ago(hours), **fields)  # type: ignore[arg-type]


def facts(**kw: object) -> SignOffFacts:
    base = SignOffFacts(
        now=NOW,
        source="staging",
        target="production",
        digest=D1,
        deployed_by=frozenset({"alice@x"}),
        required_gates=("smoke",),
        runs=(run(),),
        rule=ApprovalRule(required=1, reviewers=("group:qa", "bob@x")),
        verdicts=(verdict("carol@x"),),
        groups=GROUPS,
        ttl=TTL,
        freezes=(),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def freeze(start_h: float, end_h: float, reason: str = "year-end") -> Freeze:
    return Freeze(start=ago(start_h), end=ago(end_h), reason=reason)


def reasons(decision: SignOff) -> list[str]:
    return [hold.reason for hold in decision.holds]


# -- examples -------------------------------------------------------------------------


def test_all_good_promotes() -> None:
    decision = sign_off(facts())
    assert decision.promote and decision.holds == ()
    assert decision.gates == {"smoke": "passed"}
    assert decision.approvals_counted == ("carol@x",)
    assert decision.approvals_required == 1
    assert not decision.freeze_overridden


def test_gate_missing() -> None:
    decision = sign_off(facts(runs=(run(digest=D2), run(environment="test"))))
    assert not decision.promote
    assert decision.gates == {"smoke": "missing"}
    (hold,) = decision.holds
    assert hold.reason == f"gate smoke has not run for {SHORT}"
    assert hold.clear == "run `stageline verify staging`"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("failed", f"gate smoke failed for {SHORT}: 3 of 40 tests failed"),
        ("error", f"gate smoke could not run for {SHORT}: 3 of 40 tests failed"),
    ],
)
def test_latest_failed_or_error_holds_with_summary(status: str, expected: str) -> None:
    runs = (run(hours=5), run(status=status, hours=2, summary="3 of 40 tests failed"))
    decision = sign_off(facts(runs=runs))
    assert decision.gates == {"smoke": status}
    assert reasons(decision) == [expected]
    assert "stageline verify staging" in decision.holds[0].clear


def test_latest_run_decides_a_later_pass_clears_a_failure() -> None:
    decision = sign_off(facts(runs=(run(status="failed", hours=3), run(hours=1))))
    assert decision.promote and decision.gates == {"smoke": "passed"}


def test_same_time_failure_beats_pass() -> None:
    decision = sign_off(facts(runs=(run(hours=1), run(status="failed", hours=1))))
    assert decision.gates == {"smoke": "failed"}


def test_stale_pass() -> None:
    decision = sign_off(facts(runs=(run(hours=80),), verdicts=(verdict("carol@x"),)))
    assert decision.gates == {"smoke": "stale"}
    (hold,) = decision.holds
    assert hold.reason == f"gate smoke passed 80h ago for {SHORT}; results count for 72h"
    assert hold.clear == "run `stageline verify staging` again"


def test_every_gate_hold_is_listed() -> None:
    decision = sign_off(facts(required_gates=("smoke", "suite", "migrations"), runs=(run(),)))
    assert decision.gates == {"smoke": "passed", "suite": "missing", "migrations": "missing"}
    assert len(decision.holds) == 2


def test_too_few_approvals() -> None:
    rule = ApprovalRule(required=2, reviewers=("group:qa", "bob@x"))
    decision = sign_off(facts(rule=rule))
    (hold,) = decision.holds
    assert hold.reason == f"1 of 2 approvals for {SHORT} (carol@x)"
    assert hold.clear == "`stageline approve staging` by: bob@x, dave@x"


def test_approvals_for_other_digest_env_withdrawn_or_expired_do_not_count() -> None:
    verdicts = (
        verdict("carol@x", digest=D2),
        verdict("dave@x", environment="test"),
        verdict("bob@x", withdrawn_at=ago(0.5)),
        verdict("carol@x", hours=73),
    )
    decision = sign_off(facts(verdicts=verdicts))
    assert decision.approvals_counted == ()
    assert reasons(decision) == [f"0 of 1 approvals for {SHORT}"]


def test_one_person_counts_once_case_insensitively() -> None:
    rule = ApprovalRule(required=2, reviewers=("group:qa",))
    decision = sign_off(
        facts(rule=rule, verdicts=(verdict("carol@x"), verdict("CAROL@X", hours=2)))
    )
    assert decision.approvals_counted == ("carol@x",)
    assert not decision.promote


def test_self_approval_off_ignores_deployer_and_says_so() -> None:
    rule = ApprovalRule(required=1, reviewers=("group:qa", "bob@x"))
    decision = sign_off(
        facts(rule=rule, deployed_by=frozenset({"Bob@x"}), verdicts=(verdict("bob@x"),))
    )
    (hold,) = decision.holds
    assert hold.reason == (
        f"0 of 1 approvals for {SHORT}; not counted: bob@x deployed this release; "
        "self-approval is off here"
    )
    assert hold.clear == "`stageline approve staging` by: carol@x, dave@x"
    allowed = replace(rule, self_approval=True)
    assert sign_off(
        facts(rule=allowed, deployed_by=frozenset({"bob@x"}), verdicts=(verdict("bob@x"),))
    ).promote


def test_non_reviewer_is_ignored() -> None:
    decision = sign_off(facts(verdicts=(verdict("eve@x"),)))
    assert decision.approvals_counted == ()
    assert (
        "eve@x is not a reviewer for staging (reviewers: group:qa, bob@x)" in reasons(decision)[0]
    )


def test_empty_reviewers_means_anyone_but_the_deployer() -> None:
    rule = ApprovalRule(required=2)
    decision = sign_off(facts(rule=rule, verdicts=(verdict("eve@x"),)))
    assert decision.approvals_counted == ("eve@x",)
    assert decision.holds[0].clear == "`stageline approve staging` by: anyone but alice@x"


def test_rejection_holds_and_names_who_and_why() -> None:
    verdicts = (verdict("dave@x", "reject", note="checkout totals wrong"), verdict("carol@x"))
    decision = sign_off(facts(verdicts=verdicts))
    assert not decision.promote
    (hold,) = decision.holds
    assert hold.reason == f"dave@x rejected {SHORT} in staging: checkout totals wrong"
    assert hold.clear == "a new digest, or `stageline reject staging --withdraw` by dave@x"


def test_later_reject_replaces_approve_and_stands_until_withdrawn() -> None:
    verdicts = (verdict("carol@x", hours=3), verdict("carol@x", "reject", hours=2))
    decision = sign_off(facts(verdicts=verdicts))
    assert decision.approvals_counted == ()
    assert len(decision.holds) == 2  # the rejection, and 0 of 1 approvals
    # neither a later approve nor the TTL lifts it; withdrawing does
    again = (*verdicts, verdict("carol@x", hours=1))
    assert not sign_off(facts(verdicts=again)).promote
    old = (verdict("carol@x", "reject", hours=500), verdict("dave@x"))
    assert not sign_off(facts(verdicts=old)).promote
    withdrawn = (verdict("carol@x", "reject", hours=2, withdrawn_at=ago(1)), verdict("carol@x"))
    assert sign_off(facts(verdicts=withdrawn)).promote


def test_rejections_by_non_reviewers_are_ignored_deployers_may_reject() -> None:
    assert sign_off(facts(verdicts=(verdict("eve@x", "reject"), verdict("carol@x")))).promote
    decision = sign_off(
        facts(
            deployed_by=frozenset({"bob@x"}),
            verdicts=(verdict("bob@x", "reject"), verdict("carol@x")),
        )
    )
    assert reasons(decision) == [f"bob@x rejected {SHORT} in staging"]


def test_no_approval_gate_ignores_verdicts() -> None:
    decision = sign_off(facts(rule=None, verdicts=(verdict("carol@x", "reject"),)))
    assert decision.promote and decision.approvals_required == 0


def test_freeze_holds_unless_overridden() -> None:
    windows = (freeze(2, -24, "year-end"), freeze(100, 90, "past"), freeze(-1, -5, "future"))
    decision = sign_off(facts(freezes=windows))
    (hold,) = decision.holds
    assert hold.reason == "production is frozen until 2026-03-03T12:00:00+00:00: year-end"
    assert "--override-freeze" in hold.clear
    overridden = sign_off(facts(freezes=windows, override_freeze=True))
    assert overridden.promote and overridden.freeze_overridden
    assert not sign_off(facts(override_freeze=True)).freeze_overridden


def test_freeze_window_is_half_open() -> None:
    assert not sign_off(facts(freezes=(freeze(0, -1),))).promote
    assert sign_off(facts(freezes=(freeze(1, 0),))).promote


def test_all_holds_listed_together() -> None:
    decision = sign_off(
        facts(
            required_gates=("smoke", "suite"),
            runs=(run(status="failed"),),
            verdicts=(verdict("dave@x", "reject"),),
            freezes=(freeze(1, -1),),
        )
    )
    assert len(decision.holds) == 5


def test_may_review_and_expand() -> None:
    rule = ApprovalRule(required=1, reviewers=("group:qa", "carol@x"))
    assert may_review("DAVE@x", rule, GROUPS, frozenset()) is None
    assert may_review("alice@x", rule, GROUPS, {"Alice@X"}) == (
        "alice@x deployed this release; self-approval is off here"
    )
    assert may_review("bob@x", rule, GROUPS, (), "staging") == (
        "bob@x is not a reviewer for staging (reviewers: group:qa, carol@x)"
    )
    assert expand(("group:qa", "Bob@x"), GROUPS) == {"carol@x", "dave@x", "bob@x"}
    with pytest.raises(ValueError, match="'ops'"):
        expand(("group:ops",), GROUPS)


def test_unknown_group_in_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown people group 'ops'"):
        sign_off(facts(rule=ApprovalRule(required=1, reviewers=("group:ops",))))


# -- properties -----------------------------------------------------------------------

PEOPLE = ("alice@x", "Bob@x", "bob@x", "carol@x", "dave@x", "eve@x")
GATES = ("smoke", "suite")
# biased toward the (environment, digest) being decided, so the facts often matter
ENVS_BIASED = ("staging", "staging", "test")
DIGESTS_BIASED = (D1, D1, D2, D3)
hours = st.sampled_from([-1, 0, 1, 2, 24, 71.9, 72, 72.1, 100])
when = hours.map(ago)

runs_st = st.builds(
    GateRun,
    gate=st.sampled_from(GATES),
    environment=st.sampled_from(ENVS_BIASED),
    digest=st.sampled_from(DIGESTS_BIASED),
    status=st.sampled_from(("passed", "passed", "failed", "error")),
    finished_at=when,
    summary=st.just("s"),
)
verdicts_st = st.builds(
    Verdict,
    person=st.sampled_from(PEOPLE),
    environment=st.sampled_from(ENVS_BIASED),
    digest=st.sampled_from(DIGESTS_BIASED),
    kind=st.sampled_from(("approve", "approve", "approve", "reject")),
    at=when,
    note=st.just(""),
    withdrawn_at=st.sampled_from((None, None, None, NOW)),
)
rules_st = st.none() | st.builds(
    ApprovalRule,
    required=st.integers(0, 3),
    reviewers=st.lists(st.sampled_from(("bob@x", "Eve@x", "group:qa")), unique=True).map(tuple),
    self_approval=st.booleans(),
)
freezes_st = st.lists(
    st.tuples(st.sampled_from([100, 1, 0]), st.sampled_from([0, -1, -100]))
    .filter(lambda w: w[0] > w[1])
    .map(lambda w: freeze(*w)),
    max_size=2,
).map(tuple)
facts_st = st.builds(
    SignOffFacts,
    now=st.just(NOW),
    source=st.just("staging"),
    target=st.just("production"),
    digest=st.just(D1),
    deployed_by=st.frozensets(st.sampled_from(PEOPLE), max_size=2),
    required_gates=st.lists(st.sampled_from(GATES), unique=True).map(tuple),
    runs=st.lists(runs_st, max_size=8).map(tuple),
    rule=rules_st,
    verdicts=st.lists(verdicts_st, max_size=10).map(tuple),
    groups=st.just(GROUPS),
    ttl=st.just(TTL),
    freezes=freezes_st,
    override_freeze=st.booleans(),
)
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _passing(f: SignOffFacts) -> SignOffFacts:
    """The same facts with every required gate's latest run a fresh pass."""
    fresh = tuple(run(gate, hours=-2) for gate in f.required_gates)
    return replace(f, runs=f.runs + fresh)


@PROPS
@given(facts_st)
def test_promote_iff_no_holds(f: SignOffFacts) -> None:
    decision = sign_off(f)
    assert decision.promote is (decision.holds == ())
    assert set(decision.gates) == set(f.required_gates)


@PROPS
@given(facts_st)
def test_never_promotes_past_a_bad_latest_run(f: SignOffFacts) -> None:
    decision = sign_off(f)
    for gate in f.required_gates:
        mine = [r for r in f.runs if (r.gate, r.environment, r.digest) == (gate, "staging", D1)]
        if not mine:
            assert decision.gates[gate] == "missing"
            assert not decision.promote
            continue
        last = max(r.finished_at for r in mine)
        latest = {r.status for r in mine if r.finished_at == last}
        if latest != {"passed"} or NOW - last > TTL:
            assert not decision.promote
            assert decision.gates[gate] != "passed"


@PROPS
@given(facts_st, st.lists(runs_st, max_size=5), st.lists(verdicts_st, max_size=5))
def test_other_digests_and_environments_never_matter(
    f: SignOffFacts, runs: list[GateRun], verdicts: list[Verdict]
) -> None:
    def elsewhere(x: GateRun | Verdict) -> bool:
        return (x.environment, x.digest) != ("staging", D1)

    noisy = replace(
        f,
        runs=f.runs + tuple(filter(elsewhere, runs)),
        verdicts=f.verdicts + tuple(filter(elsewhere, verdicts)),
    )
    assert sign_off(noisy) == sign_off(f)


@PROPS
@given(facts_st)
def test_who_counts(f: SignOffFacts) -> None:
    counted = sign_off(f).approvals_counted
    assert len(counted) == len({p.lower() for p in counted})
    if f.rule is None:
        assert counted == ()
        return
    if not f.rule.self_approval:
        assert not set(counted) & {p.lower() for p in f.deployed_by}
    if f.rule.reviewers:
        assert set(counted) <= expand(f.rule.reviewers, GROUPS)
    voters = {v.person.lower() for v in f.verdicts if v.kind == "approve"}
    assert set(counted) <= voters


@PROPS
@given(facts_st)
def test_freeze_blocks_unless_overridden(f: SignOffFacts) -> None:
    decision = sign_off(f)
    frozen = any(w.start <= NOW < w.end for w in f.freezes)
    if frozen and not f.override_freeze:
        assert not decision.promote
    assert decision.freeze_overridden is (frozen and f.override_freeze)
    # overriding lifts exactly the freeze holds
    lifted = sign_off(replace(f, override_freeze=True))
    assert all("frozen" not in reason for reason in reasons(lifted))


@PROPS
@given(facts_st, rules_st.filter(bool), st.data())
def test_a_valid_fresh_approval_never_hurts(
    f: SignOffFacts, rule: ApprovalRule, data: st.DataObject
) -> None:
    f = replace(_passing(f), rule=rule)
    allowed = [p for p in PEOPLE if may_review(p, rule, GROUPS, f.deployed_by) is None]
    assume(allowed)
    person = data.draw(st.sampled_from(allowed))
    before = sign_off(f)
    after = sign_off(replace(f, verdicts=(*f.verdicts, verdict(person, hours=0))))
    assert set(before.approvals_counted) <= set(after.approvals_counted)
    if before.promote:
        assert after.promote


# -- pinned gates: evidence counts only under the configuration it was produced under ------

PIN_THEN = pin_from_parts({"gate:smoke": "1" * 64, "gate:migrations": "2" * 64})
PIN_NOW = pin_from_parts({"gate:smoke": "1" * 64})


def test_a_gate_removed_since_verify_holds_and_is_named() -> None:
    runs = (
        run("smoke", hours=2, pin=PIN_THEN),  # type: ignore[arg-type]
        run("migrations", status="failed", hours=2, pin=PIN_THEN),  # type: ignore[arg-type]
    )
    decision = sign_off(facts(runs=runs, pin=PIN_NOW))
    assert not decision.promote and decision.gates == {"smoke": "passed"}
    (hold,) = decision.holds
    assert hold.reason.startswith("gate `migrations` removed since verify at 2026-03-02 10:00 UTC")
    assert "stageline verify staging" in hold.clear
    (change,) = decision.config_changes
    assert (change.environment, change.before, change.now) == (
        "staging",
        PIN_THEN.digest,
        PIN_NOW.digest,
    )
    assert change.changed == ("gate `migrations` removed",)


def test_verify_again_under_the_new_configuration_clears_the_pin_hold() -> None:
    runs = (
        run("migrations", status="failed", hours=3, pin=PIN_THEN),  # type: ignore[arg-type]
        run("smoke", hours=3, pin=PIN_THEN),  # type: ignore[arg-type]
        run("smoke", hours=1, pin=PIN_NOW),  # type: ignore[arg-type]
    )
    decision = sign_off(facts(runs=runs, pin=PIN_NOW))
    assert decision.promote and decision.config_changes == ()


def test_deleting_every_gate_does_not_hide_the_evidence() -> None:
    runs = (run("smoke", status="failed", hours=1, pin=PIN_THEN),)  # type: ignore[arg-type]
    empty = pin_from_parts({})
    decision = sign_off(facts(runs=runs, required_gates=(), rule=None, pin=empty))
    assert not decision.promote
    assert decision.config_changes[0].changed == (
        "gate `migrations` removed",
        "gate `smoke` removed",
    )


def test_runs_from_before_pins_and_facts_without_a_pin_are_not_judged() -> None:
    assert sign_off(facts(runs=(run(),), pin=PIN_NOW)).promote  # legacy run: pin None
    assert sign_off(facts(runs=(run(pin=PIN_THEN),))).promote  # type: ignore[arg-type]


pins_st = st.sampled_from((None, PIN_THEN, PIN_NOW))


@PROPS
@given(facts_st, st.lists(pins_st, min_size=8, max_size=8), pins_st)
def test_evidence_under_another_pin_always_holds(
    f: SignOffFacts, pins: list[GatePin | None], now: GatePin | None
) -> None:
    f = replace(f, runs=tuple(replace(r, pin=p) for r, p in zip(f.runs, pins, strict=False)))
    decision = sign_off(replace(f, pin=now))
    unpinned = sign_off(replace(f, pin=None))
    # a pin never lifts a hold, it only adds its own
    assert set(unpinned.holds) <= set(decision.holds)
    moved = {c.before for c in decision.config_changes}
    assert len(decision.holds) == len(unpinned.holds) + len(moved)
    assert now is None or now.digest not in moved
    newest = _newest_own_run(f)
    if now is not None and newest is not None and newest.pin not in (None, now):
        assert not decision.promote


def _newest_own_run(f: SignOffFacts) -> GateRun | None:
    """The newest run of (source, digest), the worse on a tie: every pin check sees it."""
    own = [r for r in f.runs if (r.environment, r.digest) == (f.source, f.digest)]
    severity = {"passed": 0, "error": 1, "failed": 2}
    return max(own, key=lambda r: (r.finished_at, severity[r.status]), default=None)
