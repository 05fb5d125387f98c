"""`verification.bound`: what a decision is for, on constructed records (nothing runs, so
the store's latest deployment is what serves); the killed-deploy case runs for real in
tests/e2e/test_bound.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.errors import ArtifactNotFound, NotServing, UsageError
from stageline.usecases.pipeline import Session
from stageline.usecases.verification import bound
from tests.web.seed import seed


def test_a_named_digest_must_be_the_serving_one(tmp_path: Path) -> None:
    seeded = seed(tmp_path)
    with Session.open(seeded.root) as session:
        staging = session.pipeline().environment("staging")
        assert bound(session, staging, None, "approve").digest == seeded.new
        assert bound(session, staging, seeded.new[7:13], "approve").digest == seeded.new
        assert bound(session, staging, seeded.new, "approve").digest == seeded.new
        with pytest.raises(NotServing) as other:
            bound(session, staging, seeded.old, "approve")
        assert (other.value.named, other.value.serving) == (seeded.old, seeded.new)
        assert str(other.value) == (
            f"refusing to approve {seeded.old[:19]} in staging: {seeded.new[:19]} serves there"
            " now; nothing was recorded"
        )
        with pytest.raises(UsageError, match="is not a digest"):
            bound(session, staging, "v1.6.0", "approve")  # a tag is not a digest
        with pytest.raises(ArtifactNotFound):
            bound(session, staging, "0123456789", "approve")
