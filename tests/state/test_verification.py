"""Gate runs and verdicts round-trip on both backends, bound to digest and environment."""

from __future__ import annotations

from datetime import UTC, datetime

from stageline.state import Store
from stageline.usecases.verification import audit_waivers
from tests.state.test_store import artifact


def test_gate_runs_are_bound_to_digest_and_environment(store: Store) -> None:
    one, two = artifact(1), artifact(2)
    store.add_artifact(one)
    store.add_artifact(two)
    started = datetime.now(UTC)
    for digest, status in ((one.digest, "failed"), (one.digest, "passed"), (two.digest, "error")):
        store.record_gate_run(
            "staging",
            digest,
            "smoke",
            kind="http",
            status=status,  # type: ignore[arg-type]
            started_at=started,
            duration=0.5,
            summary=f"{status} run",
            evidence={"requests": [{"path": "/healthz", "status": 200}]},
            report_path=None,
            actor="ci@example.com",
        )
    runs = store.gate_runs("staging", one.digest)
    assert [r.status for r in runs] == ["passed", "failed"]  # newest first
    assert runs[0].evidence == {"requests": [{"path": "/healthz", "status": 200}]}
    assert runs[0].finished_at >= runs[0].started_at and runs[0].finished_at.tzinfo == UTC
    assert [r.digest for r in store.gate_runs("staging", two.digest)] == [two.digest]
    assert store.gate_runs("production") == []


def test_verdicts_and_withdrawal(store: Store) -> None:
    one = artifact(1)
    store.add_artifact(one)
    store.add_verdict("staging", one.digest, person="alice@x", kind="approve", note="looks good")
    store.add_verdict("staging", one.digest, person="bob@x", kind="reject", note="typo on /cart")
    assert store.withdraw_verdicts("staging", one.digest, person="bob@x", kind="reject") == 1
    assert store.withdraw_verdicts("staging", one.digest, person="bob@x", kind="reject") == 0
    verdicts = store.verdicts("staging", one.digest)
    assert [(v.person, v.kind, v.withdrawn_at is None) for v in verdicts] == [
        ("alice@x", "approve", True),
        ("bob@x", "reject", False),
    ]
    assert verdicts[0].note == "looks good"
    assert store.verdicts("production") == []


def test_waivers_a_gate_run_used_are_audited(store: Store) -> None:
    one = artifact(1)
    store.add_artifact(one)
    now = datetime.now(UTC)
    waived = ["waived: the previous release still uses items.note -- nothing reads it"]
    plain = store.record_gate_run(
        "staging", one.digest, "smoke", kind="http", status="passed",
        started_at=now, duration=0.1, summary="ok", evidence={}, report_path=None, actor="ana",
    )  # fmt: skip
    rehearsal = store.record_gate_run(
        "staging", one.digest, "migrations", kind="migrations", status="passed",
        started_at=now, duration=1.0, summary="ok", evidence={"waivers": waived}, report_path=None,
        actor="ana",
    )  # fmt: skip
    audit_waivers(store, plain, actor="ana")
    audit_waivers(store, rehearsal, actor="ana")
    events = [e for e in store.events("staging") if e.kind == "gate.waived"]
    assert len(events) == 1
    assert events[0].data == {"gate": "migrations", "run": rehearsal.id, "waivers": waived}
    assert events[0].digest == one.digest
