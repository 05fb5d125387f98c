"""The shared value types: how a digest and an age are shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stageline.values import Digest, age, label, short

FULL = "sha256:" + "3f2a9c01b7de" + "0" * 52


def test_a_digest_is_stored_whole_and_shown_short() -> None:
    digest = Digest(FULL)
    assert str(digest) == FULL and digest.hex == FULL.removeprefix("sha256:")
    assert digest.short == "3f2a9c01b7de" and digest.label == "sha256:3f2a9c01b7de"
    assert (short(FULL), label(FULL), short(None)) == ("3f2a9c01b7de", "sha256:3f2a9c01b7de", "")
    assert Digest("none").label == "none"  # not a sha256 digest: shown as it is, cut short


def test_age_is_the_largest_whole_unit() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ago = [age(now - timedelta(seconds=s), now) for s in (0, 42, 60, 3599, 3600, 86400 * 2)]
    assert ago == ["0s", "42s", "1m", "59m", "1h", "2d"]
    assert age(None) == "" and age(now + timedelta(seconds=5), now) == "0s"
