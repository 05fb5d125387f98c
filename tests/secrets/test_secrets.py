"""Secrets at rest: encrypted, bound to their row, re-keyed, resolved for use."""

from __future__ import annotations

import base64
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from stageline import redact
from stageline.errors import Refused, UsageError
from stageline.host.keyring import key_file_path, load_keyring
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import (
    list_secrets,
    remove_secret,
    rotate_key,
    secrets_for,
    set_secret,
)


def db_rows(session: Session) -> list[tuple[str, str, bytes | None, str | None]]:
    database = session.workspace.home / "state.db"
    with sqlite3.connect(database) as conn:
        return list(conn.execute("SELECT environment, name, ciphertext, key_id FROM secrets"))


def test_set_stores_only_ciphertext_and_resolves_per_environment(session: Session) -> None:
    set_secret(session, "staging", "API_KEY", value="staging-key-1")
    set_secret(session, "production", "API_KEY", value="production-key-9")
    pipe = session.pipeline()
    assert secrets_for(pipe.environment("staging"), session) == {"API_KEY": "staging-key-1"}
    assert secrets_for(pipe.environment("production"), session) == {"API_KEY": "production-key-9"}
    raw = (session.workspace.home / "state.db").read_bytes()
    assert b"staging-key-1" not in raw and b"production-key-9" not in raw
    key_file = key_file_path(session.workspace.home)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert all(row[2] and b"key" not in row[2] for row in db_rows(session))
    # every value this process resolved is masked by the process-wide redactor
    assert redact.scrub("x staging-key-1 production-key-9") == (
        "x [secret:API_KEY] [secret:API_KEY]"
    )


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(session: Session) -> None:
    set_secret(session, "staging", "API_KEY", value="staging-key-1")
    set_secret(session, "production", "API_KEY", value="production-key-9")
    database = session.workspace.home / "state.db"
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE"
            " environment = 'production') WHERE environment = 'staging'"
        )
    with pytest.raises(Refused, match="API_KEY of staging does not decrypt"):
        secrets_for(session.pipeline().environment("staging"), session)


def test_a_wrong_key_is_refused(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    set_secret(session, "staging", "API_KEY", value="staging-key-1")
    monkeypatch.setenv("STAGELINE_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(Refused, match="no master key with id"):
        secrets_for(session.pipeline().environment("staging"), session)
    monkeypatch.setenv("STAGELINE_MASTER_KEY", "not-a-key")
    with pytest.raises(UsageError, match="not a base64 32-byte key"):
        secrets_for(session.pipeline().environment("staging"), session)


def test_rotate_key_reencrypts_everything_under_a_new_key(session: Session) -> None:
    set_secret(session, "staging", "API_KEY", value="staging-key-1")
    set_secret(session, "staging", "DB_PASSWORD", value="pw-2-rotated")
    set_secret(session, "production", "API_KEY", value="production-key-9")
    home = session.workspace.home
    old = load_keyring(home)
    before = db_rows(session)
    done = rotate_key(session)
    after = db_rows(session)
    new = load_keyring(home)
    assert done.secrets == 3 and done.old_key == old.current_id != new.current_id
    assert len(new.keys) == 1, "the old key is gone from the key file"
    assert {r[3] for r in after} == {new.current_id}
    assert {r[2] for r in after}.isdisjoint({r[2] for r in before})
    assert secrets_for(session.pipeline().environment("staging"), session) == {
        "API_KEY": "staging-key-1",
        "DB_PASSWORD": "pw-2-rotated",
    }
    # the old key no longer opens anything
    os.environ["STAGELINE_MASTER_KEY"] = base64.b64encode(old.keys[0]).decode()
    try:
        with pytest.raises(Refused):
            secrets_for(session.pipeline().environment("production"), session)
    finally:
        del os.environ["STAGELINE_MASTER_KEY"]
    assert next(e.kind for e in session.store.events()) == "secrets.key_rotated"


def test_references_are_stored_as_references_and_resolved_at_use(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "db-password"
    secret_file.write_text("from-a-file\n")
    set_secret(session, "staging", "DB_PASSWORD", reference=f"file:{secret_file}")
    set_secret(session, "staging", "API_KEY", reference="env:VAULT_API_KEY")
    monkeypatch.setenv("VAULT_API_KEY", "from-the-environment")
    assert secrets_for(session.pipeline().environment("staging"), session) == {
        "API_KEY": "from-the-environment",
        "DB_PASSWORD": "from-a-file",
    }
    assert {r[2] for r in db_rows(session)} == {None}
    monkeypatch.delenv("VAULT_API_KEY")
    with pytest.raises(UsageError, match=r"refers to \$VAULT_API_KEY"):
        secrets_for(session.pipeline().environment("staging"), session)
    with pytest.raises(UsageError, match="not a secret reference"):
        set_secret(session, "staging", "API_KEY", reference="vault:x")


def test_list_shows_names_sources_and_the_legacy_variable_never_values(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_secret(session, "staging", "API_KEY", value="staging-key-1")
    set_secret(session, "staging", "EXTRA", value="undeclared")
    monkeypatch.setenv("STAGELINE_SECRET_STAGING_DB_PASSWORD", "legacy-value")
    infos = {info.name: info for info in list_secrets(session, "staging")}
    assert infos["API_KEY"].source == "encrypted" and infos["API_KEY"].set_by == "ops@shop.example"
    assert infos["EXTRA"].declared is False
    assert infos["DB_PASSWORD"].source == "variable"
    assert "staging-key-1" not in repr(infos) and "legacy-value" not in repr(list(infos.values()))
    # the legacy variable still works as a fallback, the store wins over it
    monkeypatch.setenv("STAGELINE_SECRET_STAGING_API_KEY", "ignored")
    assert secrets_for(session.pipeline().environment("staging"), session) == {
        "API_KEY": "staging-key-1",
        "DB_PASSWORD": "legacy-value",
    }
    remove_secret(session, "staging", "API_KEY")
    with pytest.raises(UsageError, match="no stored secret"):
        remove_secret(session, "staging", "API_KEY")


def test_a_key_file_readable_by_others_is_refused(session: Session) -> None:
    set_secret(session, "staging", "API_KEY", value="any-value")
    key_file_path(session.workspace.home).chmod(0o644)
    with pytest.raises(UsageError, match="readable by others"):
        secrets_for(session.pipeline().environment("staging"), session)
