"""The entry decision, exhaustively over its facts."""

from __future__ import annotations

import itertools

import pytest

from stageline.config.model import Environment, Target, Tier
from stageline.decisions.policy import EntryFacts, decide, tag_accepted

DIGEST = "sha256:" + "ab" * 32


def env(accept: list[str]) -> Environment:
    return Environment(
        name="staging",
        tier=Tier.staging,
        url="http://127.0.0.1:8103",
        target=Target(port=8103),
        accept=accept,
    )


@pytest.mark.parametrize(
    ("accept", "tag", "expected"),
    [
        (["v*"], "v1.7.0-rc1", True),
        (["v*"], "release-1", False),
        (["v[0-9]*.[0-9]*.[0-9]*"], "v1.7.0", True),
        (["v[0-9]*.[0-9]*.[0-9]"], "v1.7.0-rc1", False),
        (["v*-rc*", "v*.*.*"], "v2.0.0-rc3", True),
        (["*"], None, True),
        (["v*"], None, False),
    ],
)
def test_tag_globs(accept: list[str], tag: str | None, expected: bool) -> None:
    assert tag_accepted(env(accept), tag) is expected


@pytest.mark.parametrize(
    ("tag_ok", "first", "proven", "force"), list(itertools.product([True, False], repeat=4))
)
def test_every_combination(tag_ok: bool, first: bool, proven: bool, force: bool) -> None:
    facts = EntryFacts(
        target=env(["v*"]),
        digest=DIGEST,
        tag="v1.0.0" if tag_ok else "nightly",
        previous=None if first else "test",
        proven_in_previous=proven,
        force=force,
    )
    decision = decide(facts)
    entry_ok = first or proven
    assert decision.allowed is (tag_ok and (entry_ok or force))
    assert decision.break_glass is (decision.allowed and not entry_ok)
    if not tag_ok:
        assert any("accepts tags v*; nightly does not match" in r for r in decision.reasons)
    if not entry_ok and not force:
        assert any("has not run in test" in r for r in decision.reasons)
    assert decision.allowed is (not decision.reasons)
