"""Secret values per environment: set, listed, removed, re-keyed, and resolved for use.

An environment's secret *names* are declared in the pipeline file
(``[environments.X] secrets = [...]``); only declared names reach its service, release
command and gates, and each environment reads only its own. A value comes from, in order:

1. the state store: ``stageline secrets set ENV NAME`` keeps it encrypted (AES-GCM under
   the master key, see ``keyring.py``), or keeps a *reference* to where it lives
   (``env:VARIABLE`` or ``file:/path``), resolved each time it is used;
2. the operator's environment: ``STAGELINE_SECRET_<ENV>_<NAME>`` (the older way, kept as
   a fallback).

Every value resolved in a process is remembered by ``stageline.redact``, so whatever the
process prints or stores afterwards has it masked. A value too short to mask safely
(under ``redact.MIN_SECRET_LENGTH`` characters) is refused when it is set and whenever
one is resolved, whatever its source.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stageline import redact
from stageline.config.model import REVIEW_SCOPE, VAR_NAME_RE, Environment, secret_scope
from stageline.errors import InfrastructureError, UsageError
from stageline.host.keyring import (
    Keyring,
    decrypt,
    encrypt,
    key_file_path,
    load_keyring,
    new_key,
    write_key_file,
)
from stageline.identity import current_actor
from stageline.launch import reseal_all
from stageline.state.secrets import SecretRecord

if TYPE_CHECKING:
    from stageline.usecases.pipeline import Session

__all__ = [
    "SecretInfo",
    "legacy_variable",
    "list_secrets",
    "remove_secret",
    "rotate_key",
    "secrets_for",
    "set_secret",
]

Source = Literal["encrypted", "reference", "variable", "missing"]


def legacy_variable(environment: str, name: str) -> str:
    """The operator's variable a value may still come from: ``STAGELINE_SECRET_<ENV>_<NAME>``."""
    return "STAGELINE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", environment.upper()) + "_" + name


def secrets_for(env: Environment, session: Session | None = None) -> dict[str, str]:
    """The values of ``env``'s declared secrets that are set (missing ones are left out).

    Without a session only the ``STAGELINE_SECRET_<ENV>_<NAME>`` variables are read. A
    review environment (``review/<slug>``) reads the ``review`` scope's values, never
    another environment's (``config.model.secret_scope``).
    """
    scope = secret_scope(env.name)
    stored = {r.name: r for r in session.store.vault.secrets(scope)} if session else {}
    keyring: Keyring | None = None
    values: dict[str, str] = {}
    for name in env.secrets:
        record = stored.get(name)
        if record is not None:
            if record.ciphertext is not None and keyring is None:
                assert session is not None
                keyring = load_keyring(session.workspace.home)
            values[name] = _value(record, keyring)
        elif legacy_variable(scope, name) in os.environ:
            values[name] = os.environ[legacy_variable(scope, name)]
    for name, value in values.items():
        redact.check_maskable(f"{env.name}.{name}", value)
    redact.remember(values, environment=env.name)
    return values


def scope_of(session: Session, environment: str) -> Environment:
    """The environment whose secrets ``environment`` names: one of the pipeline's, or
    ``review`` (the scope of review environments, when the file has ``[review]``), as an
    environment declaring ``[review] secrets``."""
    pipe = session.pipeline()
    if environment != REVIEW_SCOPE or pipe.review is None:
        return pipe.environment(environment)
    return pipe.first.model_copy(update={"name": REVIEW_SCOPE, "secrets": pipe.review.secrets})


def _value(record: SecretRecord, keyring: Keyring | None) -> str:
    if record.reference is not None:
        return resolve_reference(record.reference, f"{record.environment}.{record.name}")
    assert record.ciphertext is not None and record.key_id is not None and keyring is not None
    return decrypt(keyring, record.environment, record.name, record.ciphertext, record.key_id)


def check_reference(reference: str) -> str:
    kind, _, where = reference.partition(":")
    if kind not in ("env", "file") or not where:
        raise UsageError(
            f"not a secret reference: {reference!r}",
            hint="use env:VARIABLE or file:/absolute/path",
        )
    if kind == "env" and not VAR_NAME_RE.match(where):
        raise UsageError(f"{where!r} is not an environment variable name")
    if kind == "file" and not Path(where).is_absolute():
        raise UsageError(f"file references need an absolute path, got {where!r}")
    return reference


def resolve_reference(reference: str, what: str) -> str:
    """The value behind ``env:VARIABLE`` (in this process's environment) or ``file:/path``."""
    kind, _, where = check_reference(reference).partition(":")
    if kind == "env":
        if where not in os.environ:
            raise UsageError(
                f"secret {what} refers to ${where}, which is not set here",
                hint=f"export {where} before running stageline, or set the value itself",
            )
        return os.environ[where]
    try:
        return Path(where).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise InfrastructureError(
            f"secret {what} refers to {where}, which cannot be read: {exc.strerror or exc}"
        ) from None


# -- the use cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class SecretInfo:
    """What ``secrets list`` shows: never a value."""

    name: str
    declared: bool
    source: Source
    reference: str | None
    set_by: str | None
    set_at: datetime | None
    key_id: str | None


def set_secret(
    session: Session,
    environment: str,
    name: str,
    *,
    value: str | None = None,
    reference: str | None = None,
    actor: str | None = None,
) -> SecretInfo:
    """Store ``environment``'s secret ``name``: a value (encrypted) or a reference.
    ``review`` is the scope every review environment reads (``[review] secrets``)."""
    env = scope_of(session, environment)
    if not VAR_NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a valid environment variable name")
    if (value is None) == (reference is None):
        raise UsageError("give either a value or a reference")
    who = actor or current_actor()
    if reference is not None:
        record = session.store.vault.put_secret(
            env.name,
            name,
            ciphertext=None,
            key_id=None,
            reference=check_reference(reference),
            set_by=who,
        )
    else:
        assert value is not None
        if not value:
            raise UsageError("the value is empty", hint="a secret needs a value")
        redact.check_maskable(f"{env.name}.{name}", value)
        keyring = load_keyring(session.workspace.home, create=True)
        blob, key_id = encrypt(keyring, env.name, name, value)
        record = session.store.vault.put_secret(
            env.name, name, ciphertext=blob, key_id=key_id, reference=None, set_by=who
        )
    session.store.append_event(
        "secret.set",
        actor=who,
        environment=env.name,
        data={"name": name, "source": reference or "encrypted"},
    )
    return _info(record, name in env.secrets)


def list_secrets(session: Session, environment: str) -> list[SecretInfo]:
    """Declared and stored secrets of ``environment``: names, sources, who and when."""
    env = scope_of(session, environment)
    stored = {r.name: r for r in session.store.vault.secrets(env.name)}
    infos = [_info(record, name in env.secrets) for name, record in stored.items()]
    for name in env.secrets:
        if name not in stored:
            present = legacy_variable(env.name, name) in os.environ
            source: Source = "variable" if present else "missing"
            ref = legacy_variable(env.name, name) if present else None
            infos.append(SecretInfo(name, True, source, ref, None, None, None))
    return sorted(infos, key=lambda info: info.name)


def remove_secret(
    session: Session, environment: str, name: str, *, actor: str | None = None
) -> None:
    env = scope_of(session, environment)
    if not session.store.vault.delete_secret(env.name, name):
        stored = [r.name for r in session.store.vault.secrets(env.name)]
        raise UsageError(
            f"{env.name} has no stored secret {name!r}",
            hint=f"stored: {', '.join(stored) or 'none'}",
        )
    session.store.append_event(
        "secret.removed", actor=actor or current_actor(), environment=env.name, data={"name": name}
    )


@dataclass(frozen=True)
class Rotation:
    old_key: str
    new_key: str
    secrets: int
    sealed: int
    key_file: Path


def rotate_key(session: Session, *, actor: str | None = None) -> Rotation:
    """Re-encrypt every stored secret (and every sealed launch file) under a new key.

    The database rows change in one transaction; the key file holds both keys until it
    has committed, then only the new one, so an interruption at any point loses nothing.
    """
    home = session.workspace.home
    old = load_keyring(home)
    if old.path is None:
        raise UsageError(
            "the master key comes from STAGELINE_MASTER_KEY; stageline cannot replace it",
            hint="rotate with a key file: unset STAGELINE_MASTER_KEY and set"
            f" STAGELINE_MASTER_KEY_FILE (default {key_file_path(home)})",
        )
    fresh = new_key()
    write_key_file(old.path, (fresh, *old.keys))
    both = load_keyring(home)

    def rewrite(record: SecretRecord) -> tuple[bytes, str]:
        assert record.ciphertext is not None and record.key_id is not None
        plain = decrypt(both, record.environment, record.name, record.ciphertext, record.key_id)
        return encrypt(both, record.environment, record.name, plain)

    count = session.store.vault.reencrypt(rewrite)
    sealed = reseal_all(home, both)
    write_key_file(old.path, (fresh,))
    rotation = Rotation(old.current_id, both.current_id, count, sealed, old.path)
    session.store.append_event(
        "secrets.key_rotated",
        actor=actor or current_actor(),
        data={"from": rotation.old_key, "to": rotation.new_key, "secrets": count},
    )
    return rotation


def _info(record: SecretRecord, declared: bool) -> SecretInfo:
    return SecretInfo(
        record.name,
        declared,
        "reference" if record.reference else "encrypted",
        record.reference,
        record.set_by,
        record.set_at,
        record.key_id,
    )
