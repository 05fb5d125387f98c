"""Pinned gates: the digest of an environment's gate configuration, and what changed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stageline.config.model import Environment, Gate, Target, Tier
from stageline.decisions.pins import changes, pin_from_parts, pin_of

GROUPS = {"qa": ("Ana@x", "ben@x"), "ops": ("olga@x",)}


def staging(**gates: dict[str, object]) -> Environment:
    return Environment(
        name="staging",
        tier=Tier.staging,
        url="http://127.0.0.1:8103",
        target=Target(port=8103),
        gates={name: Gate.model_validate(options) for name, options in gates.items()},
    )


SMOKE = {"kind": "http", "path": "/healthz"}
SIGNOFF = {"kind": "approval", "required": 2, "reviewers": ["group:qa"]}


def test_the_same_configuration_pins_the_same_digest_in_any_order() -> None:
    one = pin_of(staging(smoke=SMOKE, signoff=SIGNOFF), GROUPS)
    other = pin_of(staging(signoff=SIGNOFF, smoke=dict(reversed(SMOKE.items()))), GROUPS)
    assert one == other and one.digest.startswith("sha256:")
    assert set(one.parts) == {"ttl_hours", "gate:smoke", "gate:signoff", "group:qa"}


def test_each_change_is_named() -> None:
    before = pin_of(staging(smoke=SMOKE, migrations={"kind": "migrations"}), GROUPS)
    after = pin_of(
        staging(smoke={**SMOKE, "path": "/"}, load={"kind": "load"}, signoff=SIGNOFF), GROUPS
    )
    assert changes(before.parts, after.parts) == (
        "gate `load` added",
        "gate `migrations` removed",
        "gate `signoff` added",
        "gate `smoke` changed",
        "group `qa` added",
    )


def test_people_of_a_named_group_and_the_ttl_are_pinned() -> None:
    env = staging(signoff=SIGNOFF)
    more = {**GROUPS, "qa": ("ana@x", "ben@x", "mallory@x")}
    assert changes(pin_of(env, GROUPS).parts, pin_of(env, more).parts) == ("group `qa` changed",)
    # a group the rules do not name is not part of the pin; case of emails does not matter
    assert pin_of(env, {**GROUPS, "ops": ()}) == pin_of(env, {**GROUPS, "qa": ("ben@x", "ana@x")})
    longer = env.model_copy(update={"ttl_hours": 1})
    assert changes(pin_of(env, GROUPS).parts, pin_of(longer, GROUPS).parts) == (
        "`ttl_hours` changed",
    )


PARTS = st.dictionaries(
    st.sampled_from(["gate:smoke", "gate:load", "group:qa", "ttl_hours"]),
    st.sampled_from(["a" * 64, "b" * 64]),
)


@given(PARTS, PARTS)
def test_changes_are_empty_exactly_when_the_digests_agree(
    a: dict[str, str], b: dict[str, str]
) -> None:
    same = pin_from_parts(a).digest == pin_from_parts(b).digest
    assert (changes(a, b) == ()) is same is (a == b)
    # what was added one way was removed the other way
    added = {c.removesuffix(" added") for c in changes(a, b) if c.endswith(" added")}
    removed = {c.removesuffix(" removed") for c in changes(b, a) if c.endswith(" removed")}
    assert added == removed
