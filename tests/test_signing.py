"""SSH signatures over statements, with real ``ssh-keygen`` ed25519 keys made in tmp."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from stageline.errors import Refused
from stageline.signing import Statement, fingerprint_of, sign, verify

ANA = "ana@shop.example"
STATEMENT = Statement(
    "approve", "staging", "sha256:" + "a" * 64, ANA, "2026-12-05T01:30:00+00:00", "looks good"
)


def make_key(folder: Path, name: str) -> Path:
    """A fresh unencrypted ed25519 key pair; the private key's path."""
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def public(key: Path) -> str:
    kind, blob, *_ = key.with_suffix(".pub").read_text().split()
    return f"{kind} {blob}"


def allowed(folder: Path, *lines: str) -> Path:
    path = folder / "allowed_signers"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_a_signature_verifies_for_its_person_and_names_the_key(tmp_path: Path) -> None:
    key = make_key(tmp_path, "ana")
    signature = sign(STATEMENT, key)
    signers = allowed(tmp_path, f"{ANA} {public(key)}")
    fingerprint = verify(STATEMENT, signature, signers)
    assert fingerprint.startswith("SHA256:") and fingerprint == fingerprint_of(STATEMENT, signature)


def test_any_changed_field_or_another_person_does_not_verify(tmp_path: Path) -> None:
    key = make_key(tmp_path, "ana")
    signature = sign(STATEMENT, key)
    signers = allowed(tmp_path, f"{ANA} {public(key)}", f"ben@shop.example {public(key)}")
    for changed in (
        replace(STATEMENT, digest="sha256:" + "b" * 64),
        replace(STATEMENT, note="looks great"),
        replace(STATEMENT, action="reject"),
        replace(STATEMENT, environment="production"),
        replace(STATEMENT, person="ben@shop.example"),
    ):
        with pytest.raises(Refused):
            verify(changed, signature, signers)


def test_a_key_not_listed_for_the_person_is_refused_naming_it(tmp_path: Path) -> None:
    key, other = make_key(tmp_path, "ana"), make_key(tmp_path, "mallory")
    signers = allowed(tmp_path, f"{ANA} {public(key)}")
    signature = sign(STATEMENT, other)
    with pytest.raises(Refused) as refused:
        verify(STATEMENT, signature, signers)
    assert f"is not {ANA}'s in allowed_signers" in str(refused.value)
    assert str(fingerprint_of(STATEMENT, signature)) in str(refused.value)


def test_a_retired_key_verifies_what_it_signed_before_and_nothing_after(tmp_path: Path) -> None:
    """Rotation as git does it: keep the old key with valid-before, add the new one."""
    old = make_key(tmp_path, "old")
    signers = allowed(tmp_path, f'{ANA} valid-before="20261201" {public(old)}')
    before = replace(STATEMENT, at="2026-11-30T12:00:00+00:00")
    assert verify(before, sign(before, old), signers).startswith("SHA256:")
    with pytest.raises(Refused):
        verify(STATEMENT, sign(STATEMENT, old), signers)  # signed 2026-12-05


def test_a_missing_key_file_or_allowed_signers_file_is_a_clear_refusal(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="no signing key at"):
        sign(STATEMENT, tmp_path / "nope")
    key = make_key(tmp_path, "ana")
    with pytest.raises(Refused, match="does not exist"):
        verify(STATEMENT, sign(STATEMENT, key), tmp_path / "allowed_signers")


def test_the_payload_is_canonical_ascii_json_with_a_version() -> None:
    payload = replace(STATEMENT, note="ça va").payload()
    assert payload.startswith(b'{"action":"approve","at":')
    assert b'"stageline":"statement/v1"' in payload and b"\\u00e7a va" in payload
    assert payload.decode("ascii")
