from __future__ import annotations

import dataclasses
import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from stageline.errors import ArtifactNotFound, StoreError
from stageline.state import GENESIS_HASH, ArtifactRecord, EventRecord, Store

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def artifact(n: int, *, tag: str | None = None, commit: str = "c0ffee") -> ArtifactRecord:
    return ArtifactRecord(
        digest=f"sha256:{n:02d}" + "ab" * 31,
        service="shop",
        version=f"1.{n}.0",
        tag=tag,
        ref=tag or "main",
        commit=commit,
        commit_time=T0.astimezone(timezone(timedelta(hours=2))),  # stored as UTC
        built_at=T0 + timedelta(minutes=n),
        built_by="alice",
        host="builder",
        size_bytes=10_000_000_000 + n,
        path=f"/srv/artifacts/{n}",
    )


def test_artifacts_round_trip(store: Store) -> None:
    first, second = artifact(1, tag="v1.1.0"), artifact(2, commit="deadbeef")
    store.add_artifact(first)
    store.add_artifact(second)
    got = store.get_artifact(first.digest)
    assert got == first
    assert got is not None and got.commit_time.tzinfo == UTC and got.built_at.tzinfo == UTC
    assert store.get_artifact("sha256:" + "0" * 64) is None
    assert store.list_artifacts() == [second, first]  # newest first
    assert store.find_artifacts(tag="v1.1.0") == [first]
    assert store.find_artifacts(commit="dead") == [second]
    assert store.find_artifacts(digest_prefix="sha256:02") == [second]
    assert store.find_artifacts(digest_prefix="0") == [second, first]
    assert store.find_artifacts(tag="v1.1.0", commit="dead") == []
    assert store.find_artifacts(digest_prefix="%") == []


def test_add_artifact_is_idempotent(store: Store) -> None:
    original = artifact(1)
    store.add_artifact(original)
    store.add_artifact(original)
    store.add_artifact(dataclasses.replace(original, path="/elsewhere"))
    assert store.list_artifacts() == [original]


def test_deployments_chain_and_current(store: Store) -> None:
    store.add_artifact(artifact(1))
    store.add_artifact(artifact(2))
    a, b = artifact(1).digest, artifact(2).digest
    assert store.current_deployment("staging") is None

    d1 = store.start_deployment("staging", a, actor="alice", kind="deploy")
    assert (d1.status, d1.previous_id, d1.finished_at) == ("in_progress", None, None)
    assert store.current_deployment("staging") is None  # not succeeded yet
    d1 = store.finish_deployment(d1.id, "succeeded", detail="ok")
    assert d1.status == "succeeded" and d1.detail == "ok"
    assert d1.finished_at is not None and d1.finished_at.tzinfo == UTC

    d2 = store.start_deployment("staging", b, actor="bob", kind="deploy")
    assert d2.previous_id == d1.id
    store.finish_deployment(d2.id, "failed", detail="health check failed")
    assert store.current_deployment("staging") == d1  # failed ones do not count

    d3 = store.start_deployment("staging", b, actor="bob", kind="force")
    assert d3.previous_id == d1.id
    d3 = store.finish_deployment(d3.id, "succeeded")
    assert store.current_deployment("staging") == d3

    prod = store.start_deployment("production", a, actor="carol", kind="promote")
    assert prod.previous_id is None
    assert [d.id for d in store.deployments("staging")] == [d3.id, d2.id, d1.id]
    assert [d.id for d in store.deployments(limit=2)] == [prod.id, d3.id]
    assert store.deployments("staging")[1].detail == "health check failed"

    rolled = store.finish_deployment(d3.id, "rolled_back", detail="rollback to d1")
    assert rolled.status == "rolled_back"
    assert store.current_deployment("staging") == d1


def test_deployment_errors(store: Store) -> None:
    with pytest.raises(ArtifactNotFound):
        store.start_deployment("staging", "sha256:" + "1" * 64, actor="a", kind="deploy")
    store.add_artifact(artifact(1))
    with pytest.raises(ValueError):
        store.start_deployment("staging", artifact(1).digest, actor="a", kind="yolo")  # type: ignore[arg-type]
    d = store.start_deployment("staging", artifact(1).digest, actor="a", kind="deploy")
    store.finish_deployment(d.id, "failed")
    with pytest.raises(StoreError):
        store.finish_deployment(d.id, "succeeded")
    with pytest.raises(StoreError):
        store.finish_deployment(d.id + 100, "failed")


def assert_chain(newest_first: list[EventRecord]) -> None:
    chain = list(reversed(newest_first))
    assert chain[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(chain):
        assert after.prev_hash == before.hash
        assert after.id > before.id
    for ev in chain:
        assert ev.hash == ev.computed_hash()


def test_events_append_in_order_with_hash_chain(store: Store) -> None:
    e1 = store.append_event("build", actor="alice", digest="sha256:aa", data={"tag": "v1"})
    e2 = store.append_event("deploy", actor="bob", environment="staging", data={"n": [1, 2]})
    e3 = store.append_event("deploy", actor="bob", environment="production")
    events = store.events()
    assert events == [e3, e2, e1]  # newest first
    assert e1.data == {"tag": "v1"} and e3.data == {}
    assert e1.at.tzinfo == UTC and e1.at <= e2.at <= e3.at
    assert_chain(events)
    assert store.events("staging") == [e2]
    assert store.events(limit=1) == [e3]

    tampered = dataclasses.replace(e2, data={"n": [1, 3]})
    assert tampered.computed_hash() != e2.hash


def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    def append(worker: int) -> None:
        for i in range(5):
            store.append_event("tick", actor=f"w{worker}", data={"i": i})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(append, range(4)))
    events = store.events()
    assert len(events) == 20
    assert_chain(events)
