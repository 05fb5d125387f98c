"""Who acts, proven (issue 18, break 12): approvals through the real CLI on a real
workspace and store (tests/web/seed.py: staging runs NEW, put there by ana; two QA
approvals needed), signed with real ``ssh-keygen`` ed25519 keys made in tmp, or made with
a personal token; ``STAGELINE_USER`` alone only in single-person mode; every stored
signature checked again by ``stageline audit verify``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline import redact
from stageline.identity import Credentials, Unproven
from stageline.signing import Statement, sign
from stageline.state.models import canonical_json, event_hash
from stageline.usecases.permissions import require
from stageline.usecases.pipeline import Session
from stageline.usecases.signed_audit import verify_store
from tests.test_signing import make_key, public
from tests.web.seed import ANA, BEN, CHEN, Seeded, seed

pytestmark = pytest.mark.slow  # real CLI processes, about 15 s a test

ADMIN = "lea@shop.example"


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[tuple[Seeded, dict[str, Path]]]:
    """The seeded shop in signed mode; ben and lea (an admin) have keys listed in its
    allowed signers file; chen's key is not listed."""
    seeded = seed(tmp_path)
    pipeline = seeded.root / "stageline.toml"
    text = pipeline.read_text()
    assert 'mode = "single-person"' in text
    pipeline.write_text(
        text.replace(
            'mode = "single-person"',
            f'mode = "signed"\nallowed_signers = "allowed_signers"\nadmins = ["{ADMIN}"]',
        )
    )
    keys = {person: make_key(tmp_path, person.split("@")[0]) for person in (BEN, CHEN, ADMIN)}
    (seeded.root / "allowed_signers").write_text(
        f"{BEN} {public(keys[BEN])}\n{ADMIN} {public(keys[ADMIN])}\n"
    )
    yield seeded, keys
    redact.forget_all()


def run(root: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """The real CLI on ``root`` with exactly these identity variables set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGELINE_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "stageline", *args, "-C", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def said(done: subprocess.CompletedProcess[str]) -> str:
    """What the command printed, with Rich's line wrapping undone."""
    return " ".join((done.stdout + done.stderr).split())


def verdicts(root: Path) -> list[tuple[str, str]]:
    with Session.open(root) as session:
        return [(v.person, v.kind) for v in session.store.verdicts("staging")]


def given_events(root: Path) -> list[dict[str, object]]:
    with Session.open(root) as session:
        return [
            {"id": e.id, "actor": e.actor, **e.data}
            for e in session.store.events(limit=100)
            if e.kind == "approve.given"
        ]


def test_a_signed_approval_is_stored_with_its_signature_and_audit_verify_checks_it(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, keys = signed
    done = run(
        seeded.root, "approve", "staging", "--note", "checked", "--sign-with", str(keys[BEN]),
        STAGELINE_USER=BEN,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert verdicts(seeded.root) == [(BEN, "approve")]
    [event] = given_events(seeded.root)
    assert event["proof"] == "ssh" and event["signed_action"] == "approve"
    assert str(event["signature"]).startswith("-----BEGIN SSH SIGNATURE-----")
    fingerprint = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(keys[BEN].with_suffix(".pub"))],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip
    assert event["signer"] == fingerprint
    checked = run(seeded.root, "audit", "verify")
    assert checked.returncode == 0, checked.stderr
    assert "1 signatures verify" in said(checked)
    report = json.loads(run(seeded.root, "audit", "verify", "--json").stdout)
    assert report["ok"] and report["signatures"] == {"checked": 1, "problems": []}


def test_a_key_not_in_the_allowed_signers_is_refused_and_nothing_is_stored(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, keys = signed
    refused = run(
        seeded.root, "approve", "staging", "--sign-with", str(keys[CHEN]), STAGELINE_USER=CHEN
    )
    assert refused.returncode == 1
    assert f"is not {CHEN}'s in allowed_signers" in said(refused)
    # ben's name with chen's key: the same refusal
    posing = run(
        seeded.root, "approve", "staging", "--sign-with", str(keys[CHEN]), STAGELINE_USER=BEN
    )
    assert posing.returncode == 1 and f"is not {BEN}'s in allowed_signers" in said(posing)
    assert verdicts(seeded.root) == [] and given_events(seeded.root) == []


def test_stageline_user_alone_is_refused_outside_single_person_mode(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, _ = signed
    refused = run(seeded.root, "approve", "staging", STAGELINE_USER=BEN)
    assert refused.returncode == 1
    line = said(refused).partition("error:")[2].partition("hint:")[0]  # after "==> approving"
    assert "needs proof that you are ben@shop.example" in line and "single-person" in line
    assert "--sign-with" in said(refused) and "STAGELINE_TOKEN" in said(refused)
    assert verdicts(seeded.root) == []
    with Session.open(seeded.root) as session:
        assert session.store.events(limit=1)[0].kind == "approve.refused"  # audited
        for action, environment in (("force", "staging"), ("promote", "production")):
            with pytest.raises(Unproven):
                require(session, action, environment)  # type: ignore[arg-type]


def test_the_same_approval_passes_with_stageline_user_in_single_person_mode(
    tmp_path: Path,
) -> None:
    seeded = seed(tmp_path)
    try:
        done = run(seeded.root, "approve", "staging", STAGELINE_USER=BEN)
        assert done.returncode == 0, done.stderr
        assert given_events(seeded.root)[0]["proof"] == "single-person"
    finally:
        redact.forget_all()


def test_a_personal_token_proves_its_person_and_must_agree_with_stageline_user(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, _ = signed
    mismatch = run(
        seeded.root, "approve", "staging", STAGELINE_USER=BEN, STAGELINE_TOKEN=seeded.tokens[CHEN]
    )
    assert mismatch.returncode == 1 and "is chen@shop.example's token" in said(mismatch)
    done = run(seeded.root, "approve", "staging", STAGELINE_TOKEN=seeded.tokens[CHEN])
    assert done.returncode == 0, done.stderr
    assert verdicts(seeded.root) == [(CHEN, "approve")]
    assert given_events(seeded.root)[0]["proof"] == "token"


def test_a_tampered_stored_signature_is_reported_even_with_the_chain_rehashed(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, keys = signed
    assert run(seeded.root, "approve", "staging", "--sign-with", str(keys[BEN]),
               STAGELINE_USER=BEN).returncode == 0  # fmt: skip
    [event] = given_events(seeded.root)
    # an attacker with the database swaps in ben's signature of another statement (an
    # approval of some other digest), re-hashes the chain's tail and re-links the row:
    # the chain holds
    other = Statement("approve", "staging", "sha256:" + "0" * 64, BEN, str(event["signed_at"]))
    forged = {k: v for k, v in event.items() if k not in ("id", "actor")}
    forged["signature"] = sign(other, keys[BEN])
    database = seeded.root / ".stageline" / "state.db"
    with sqlite3.connect(database) as raw:
        row = raw.execute(
            "SELECT at, actor, kind, environment, digest, prev_hash FROM events WHERE id = ?",
            (event["id"],),
        ).fetchone()
        assert raw.execute("SELECT max(id) FROM events").fetchone()[0] == event["id"]
        with Session.open(seeded.root) as session:
            stored = next(e for e in session.store.events(limit=5) if e.id == event["id"])
        rehashed = event_hash(
            row[5], at=stored.at, actor=row[1], kind=row[2], environment=row[3], digest=row[4],
            data=forged,
        )  # fmt: skip
        raw.execute(
            "UPDATE verdicts SET event_hash = ? WHERE event_hash = "
            "(SELECT hash FROM events WHERE id = ?)",
            (rehashed, event["id"]),
        )  # and re-links the approval's row to the rewritten event
        raw.execute(
            "UPDATE events SET data = ?, hash = ? WHERE id = ?",
            (canonical_json(forged), rehashed, event["id"]),
        )
    report = json.loads(run(seeded.root, "audit", "verify", "--json").stdout)
    assert report["broken"] is None  # the chain alone is fooled
    assert not report["ok"] and report["signatures"]["checked"] == 1
    [problem] = report["signatures"]["problems"]
    assert problem["event"] == event["id"] and problem["person"] == BEN
    checked = run(seeded.root, "audit", "verify")
    assert checked.returncode == 1
    assert f"1 of 1 signatures do not verify; first: event {event['id']}" in said(checked)


def test_a_key_removed_from_the_allowed_signers_is_reported_by_audit_verify(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, keys = signed
    assert run(seeded.root, "approve", "staging", "--sign-with", str(keys[BEN]),
               STAGELINE_USER=BEN).returncode == 0  # fmt: skip
    (seeded.root / "allowed_signers").write_text(f"{ADMIN} {public(keys[ADMIN])}\n")
    checked = run(seeded.root, "audit", "verify")
    assert checked.returncode == 1 and f"is not {BEN}'s in allowed_signers" in said(checked)


def test_minting_a_token_needs_proof_and_for_someone_else_an_admin_signature(
    signed: tuple[Seeded, dict[str, Path]],
) -> None:
    seeded, keys = signed
    alone = run(seeded.root, "tokens", "create", "laptop", STAGELINE_USER=BEN)
    assert alone.returncode == 1 and "single-person" in said(alone)
    own = run(
        seeded.root, "tokens", "create", "laptop", "--sign-with", str(keys[BEN]),
        STAGELINE_USER=BEN,
    )  # fmt: skip
    assert own.returncode == 0 and "stl_" in own.stdout, own.stderr
    for_ana = run(
        seeded.root, "tokens", "create", "x", "--for", ANA, "--sign-with", str(keys[BEN]),
        STAGELINE_USER=BEN,
    )  # fmt: skip
    assert for_ana.returncode == 1 and f"{BEN} may not mint a token for {ANA}" in said(for_ana)
    with_token = run(
        seeded.root, "tokens", "create", "x", "--for", ANA, STAGELINE_TOKEN=seeded.tokens[ANA]
    )
    assert with_token.returncode == 0, with_token.stderr  # ana's own token: ana herself
    admin = run(
        seeded.root, "tokens", "create", "y", "--for", ANA, "--sign-with", str(keys[ADMIN]),
        STAGELINE_USER=ADMIN,
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr
    with Session.open(seeded.root) as session:
        names = sorted(t.name for t in session.store.vault.tokens(ANA))
    assert names == ["web", "x", "y"]


def test_break_glass_signed_is_recorded_as_access_proven_and_verified(
    signed: tuple[Seeded, dict[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded, keys = signed
    monkeypatch.setenv("STAGELINE_USER", BEN)
    with Session.open(seeded.root) as session:
        assert (
            require(session, "force", "production", credentials=Credentials(key=keys[BEN])) == BEN
        )
        proven = session.store.events(limit=1)[0]
        assert (proven.kind, proven.actor, proven.environment) == (
            "access.proven",
            BEN,
            "production",
        )
        assert proven.data["signed_action"] == "force" and proven.data["proof"] == "ssh"
        report = verify_store(session.store, session.pipeline)
    assert report.ok and report.checked == 1
