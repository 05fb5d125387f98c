"""Who is acting: recorded on every deployment, verdict and audit event; and, for the
decisions that need it, the proof of who they are.

``current_actor`` is who a command says it runs as (``STAGELINE_USER``, else git's
``user.email``): enough for building, deploying into non-production environments and
reading. Approvals, rejections and privileged actions (promotion into production,
break-glass, freeze overrides, minting a token) go through :func:`prove`, which accepts,
in this order:

1. a person the caller has already authenticated (``Credentials.vouched``: the
   dashboard's live session or bearer token);
2. an SSH signature (``--sign-with KEY`` or ``STAGELINE_SIGNING_KEY``) over the
   :class:`~stageline.signing.Statement` of the decision, checked against the pipeline's
   ``[access] allowed_signers`` for the claimed person;
3. a personal token (``STAGELINE_TOKEN``): the token's person acts;
4. nothing but the claimed name, only if the pipeline says ``[access] mode =
   "single-person"``. Otherwise :class:`Unproven` (exit 1) says how to sign or use a token.

The :class:`Proof` is recorded with the decision (``Proof.fields``, plain fields of the
audit event, so the hash chain covers them) and ``stageline.usecases.signed_audit`` checks every
stored signature again.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stageline import signing
from stageline.config.model import Pipeline
from stageline.errors import Refused
from stageline.state import Store
from stageline.usecases.tokens import person_for_token

Method = Literal["vouched", "ssh", "token", "single-person"]

SIGNING_KEY_VARIABLE = "STAGELINE_SIGNING_KEY"
TOKEN_VARIABLE = "STAGELINE_TOKEN"


def current_actor() -> str:
    """Who runs this command: ``STAGELINE_USER``, else git's ``user.email``, else ``user@host``.

    The one place the CLI's claimed identity comes from; the dashboard passes an
    authenticated identity to the same use cases instead.
    """
    explicit = os.environ.get("STAGELINE_USER")
    if explicit:
        return explicit
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        email = ""
    return email or f"{getpass.getuser()}@{socket.gethostname()}"


class Unproven(Refused):
    """A decision that needs proof of who makes it came with a name only."""

    def __init__(self, action: str, person: str) -> None:
        super().__init__(
            f"{action} needs proof that you are {person}: STAGELINE_USER alone is accepted"
            " only in single-person mode",
            hint=f"sign with --sign-with ~/.ssh/id_ed25519 (or {SIGNING_KEY_VARIABLE}), a key"
            f" listed for you in [access] allowed_signers; or set {TOKEN_VARIABLE} to your"
            " personal token",
        )


@dataclass(frozen=True)
class Credentials:
    """What a caller presents: a person it already authenticated, a signing key, a token."""

    vouched: str | None = None
    key: Path | None = None
    token: str | None = None


def current_credentials(sign_with: Path | None = None) -> Credentials:
    """The CLI's credentials: ``sign_with`` or ``STAGELINE_SIGNING_KEY``, ``STAGELINE_TOKEN``."""
    key = sign_with or (
        Path(os.environ[SIGNING_KEY_VARIABLE]) if os.environ.get(SIGNING_KEY_VARIABLE) else None
    )
    token = os.environ.get(TOKEN_VARIABLE) or None
    return Credentials(key=key.expanduser() if key else None, token=token)


@dataclass(frozen=True)
class Proof:
    """Who acts, how that was proven, and the signature when there is one."""

    person: str
    method: Method
    signature: str | None = None
    signer: str | None = None
    signed_at: str | None = None
    action: str | None = None

    def fields(self) -> dict[str, str]:
        """The proof as plain audit-event fields (chained with the event)."""
        out: dict[str, str] = {"proof": self.method}
        if self.signature is not None:
            assert self.signer and self.signed_at and self.action
            out |= {
                "signature": self.signature,
                "signer": self.signer,
                "signed_at": self.signed_at,
                "signed_action": self.action,
            }
        return out


def allowed_signers_of(pipe: Pipeline) -> Path | None:
    """The pipeline's allowed signers file, relative to the pipeline file; None if unset."""
    name = pipe.access.allowed_signers
    if name is None:
        return None
    return (Path(pipe.source).resolve().parent / name).resolve()


def prove(
    store: Store,
    pipe: Pipeline,
    statement: signing.Statement,
    credentials: Credentials,
) -> Proof:
    """The proof that ``statement.person`` makes ``statement`` (see the module docstring);
    ``Refused`` (or :class:`Unproven`) when there is none."""
    if credentials.vouched is not None:
        return Proof(credentials.vouched, "vouched")
    if credentials.key is not None:
        return _signed(pipe, statement, credentials.key)
    if credentials.token is not None:
        person = person_for_token(store, credentials.token)
        claimed = os.environ.get("STAGELINE_USER")
        if claimed and claimed.strip().lower() != person.strip().lower():
            raise Refused(
                f"STAGELINE_USER says {claimed} but {TOKEN_VARIABLE} is {person}'s token",
                hint="unset one of them",
            )
        return Proof(person, "token")
    if pipe.access.mode == "single-person":
        return Proof(statement.person, "single-person")
    raise Unproven(f"{statement.action} in {statement.environment}", statement.person)


def _signed(pipe: Pipeline, statement: signing.Statement, key: Path) -> Proof:
    allowed = allowed_signers_of(pipe)
    if allowed is None:
        raise Refused(
            f"cannot check a signature: {pipe.source} names no allowed signers file",
            hint='add [access] allowed_signers = "allowed_signers" (lines of'
            " `email ssh-ed25519 AAAA...`), or use STAGELINE_TOKEN",
        )
    signature = signing.sign(statement, key)
    signer = signing.verify(statement, signature, allowed)
    return Proof(statement.person, "ssh", signature, signer, statement.at, statement.action)
