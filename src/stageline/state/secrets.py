"""Rows of the ``secrets``, ``tokens`` and ``web_sessions`` tables, the raw audit chain.

``Store.vault`` hands out a :class:`Vault` bound to the store's transactions. Secret rows
hold ciphertext (or a reference to where the value lives), never a value; token rows hold
a sha256 of the token, never the token. Encryption lives in ``stageline.usecases.secrets``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import LargeBinary, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from stageline.state.models import Base, Event, UTCDateTime, canonical_json, event_hash


class SecretRow(Base):
    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("environment", "name", name="uq_secrets_environment_name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    environment: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary())
    key_id: Mapped[str | None] = mapped_column(String(80))
    reference: Mapped[str | None] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    person: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSessionRow(Base):
    """A dashboard session: the cookie carries a random id, this row its sha256."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    person: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class SecretRecord:
    """One stored secret: ``ciphertext`` under key ``key_id``, or a ``reference``."""

    environment: str
    name: str
    ciphertext: bytes | None
    key_id: str | None
    reference: str | None
    set_by: str
    set_at: datetime

    @classmethod
    def from_row(cls, row: SecretRow) -> SecretRecord:
        return cls(
            row.environment,
            row.name,
            row.ciphertext,
            row.key_id,
            row.reference,
            row.set_by,
            row.set_at,
        )


@dataclass(frozen=True)
class TokenRecord:
    """A personal access token, known by its hash only."""

    id: int
    name: str
    person: str
    token_hash: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    @classmethod
    def from_row(cls, row: TokenRow) -> TokenRecord:
        return cls(
            row.id,
            row.name,
            row.person,
            row.token_hash,
            row.created_at,
            row.expires_at,
            row.revoked_at,
            row.last_used_at,
        )


@dataclass(frozen=True)
class ChainLink:
    """An ``events`` row exactly as stored, for verifying the chain.

    ``computed`` is the hash its fields give (None when ``data`` is not even JSON).
    """

    id: int
    kind: str
    actor: str
    environment: str | None
    at: datetime
    prev_hash: str
    hash: str
    computed: str | None
    #: the decision row it vouches for: (table, id, record hash) from ``data["record"]``
    record: tuple[str, int, str] | None = None
    digest: str | None = None


class Vault:
    """Secret rows, token rows and the raw event chain, in the store's transactions."""

    def __init__(self, tx: Callable[[], AbstractContextManager[Session]]) -> None:
        self._tx = tx

    # -- secrets ------------------------------------------------------------------------

    def put_secret(
        self,
        environment: str,
        name: str,
        *,
        ciphertext: bytes | None,
        key_id: str | None,
        reference: str | None,
        set_by: str,
    ) -> SecretRecord:
        """Insert or replace ``environment``'s secret ``name``."""
        with self._tx() as session:
            row = session.scalars(
                select(SecretRow).where(
                    SecretRow.environment == environment, SecretRow.name == name
                )
            ).first()
            if row is None:
                row = SecretRow(environment=environment, name=name)
                session.add(row)
            row.ciphertext = ciphertext
            row.key_id = key_id
            row.reference = reference
            row.set_by = set_by
            row.set_at = datetime.now(UTC)
            session.flush()
            return SecretRecord.from_row(row)

    def secrets(self, environment: str | None = None) -> list[SecretRecord]:
        """Stored secrets, by environment then name."""
        query = select(SecretRow).order_by(SecretRow.environment, SecretRow.name)
        if environment is not None:
            query = query.where(SecretRow.environment == environment)
        with self._tx() as session:
            return [SecretRecord.from_row(row) for row in session.scalars(query)]

    def delete_secret(self, environment: str, name: str) -> bool:
        with self._tx() as session:
            done = session.execute(
                delete(SecretRow).where(
                    SecretRow.environment == environment, SecretRow.name == name
                )
            )
            return bool(getattr(done, "rowcount", 0))

    def reencrypt(self, rewrite: Callable[[SecretRecord], tuple[bytes, str]]) -> int:
        """Replace every ciphertext by ``rewrite(record)`` in ONE transaction; how many."""
        with self._tx() as session:
            rows = list(session.scalars(select(SecretRow).where(SecretRow.ciphertext.is_not(None))))
            for row in rows:
                row.ciphertext, row.key_id = rewrite(SecretRecord.from_row(row))
            return len(rows)

    # -- tokens -------------------------------------------------------------------------

    def add_token(
        self, name: str, person: str, token_hash: str, expires_at: datetime | None
    ) -> TokenRecord:
        with self._tx() as session:
            row = TokenRow(
                name=name,
                person=person,
                token_hash=token_hash,
                created_at=datetime.now(UTC),
                expires_at=expires_at,
                revoked_at=None,
                last_used_at=None,
            )
            session.add(row)
            session.flush()
            return TokenRecord.from_row(row)

    def tokens(self, person: str | None = None) -> list[TokenRecord]:
        query = select(TokenRow).order_by(TokenRow.id)
        if person is not None:
            query = query.where(TokenRow.person == person)
        with self._tx() as session:
            return [TokenRecord.from_row(row) for row in session.scalars(query)]

    def use_token(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash (its ``last_used_at`` set to now), or None."""
        with self._tx() as session:
            row = session.scalars(select(TokenRow).where(TokenRow.token_hash == token_hash)).first()
            if row is None:
                return None
            record = TokenRecord.from_row(row)
            if record.active(datetime.now(UTC)):
                row.last_used_at = datetime.now(UTC)
            return record

    def revoke_tokens(self, name: str, person: str | None = None) -> int:
        """Revoke the active tokens called ``name`` (of ``person`` if given); how many."""
        query = select(TokenRow).where(TokenRow.name == name, TokenRow.revoked_at.is_(None))
        if person is not None:
            query = query.where(TokenRow.person == person)
        with self._tx() as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.revoked_at = datetime.now(UTC)
            return len(rows)

    # -- dashboard sessions -------------------------------------------------------------

    def start_session(self, id_hash: str, person: str, token_hash: str) -> None:
        with self._tx() as session:
            session.add(
                WebSessionRow(
                    id_hash=id_hash,
                    person=person,
                    token_hash=token_hash,
                    started_at=datetime.now(UTC),
                    ended_at=None,
                )
            )

    def live_session(self, id_hash: str) -> tuple[str, str] | None:
        """(person, token hash) of the session with this id hash, unless it has ended."""
        with self._tx() as session:
            row = session.get(WebSessionRow, id_hash)
            if row is None or row.ended_at is not None:
                return None
            return row.person, row.token_hash

    def end_session(self, id_hash: str) -> bool:
        """End the session for good (sign-out); False if it was unknown or had ended."""
        with self._tx() as session:
            row = session.get(WebSessionRow, id_hash)
            if row is None or row.ended_at is not None:
                return False
            row.ended_at = datetime.now(UTC)
            return True

    # -- the audit chain ----------------------------------------------------------------

    def chain(self) -> Iterator[ChainLink]:
        """Every event in id order, with the hash its stored fields give."""
        with self._tx() as session:
            rows = list(session.scalars(select(Event).order_by(Event.id)))
        for row in rows:
            yield ChainLink(
                row.id,
                row.kind,
                row.actor,
                row.environment,
                row.at,
                row.prev_hash,
                row.hash,
                _computed(row),
                _record(row),
                row.digest,
            )


def _record(row: Event) -> tuple[str, int, str] | None:
    try:
        data: Any = json.loads(row.data)
    except (TypeError, ValueError):
        return None
    record = data.get("record") if isinstance(data, Mapping) else None
    if not isinstance(record, Mapping):
        return None
    table, ident, digest = record.get("table"), record.get("id"), record.get("hash")
    if isinstance(table, str) and isinstance(ident, int) and isinstance(digest, str):
        return table, ident, digest
    return None


def _computed(row: Event) -> str | None:
    try:
        data: Any = json.loads(row.data)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, Mapping) or canonical_json(data) != row.data:
        return None  # stored data must be the canonical spelling the hash was made over
    return event_hash(
        row.prev_hash,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        environment=row.environment,
        digest=row.digest,
        data=dict(data),
    )
