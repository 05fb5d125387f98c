"""``audit verify``'s second half: every signature stored in the audit log still verifies.

A signed decision (``identity.Proof.fields``) keeps, in its event's data, the armored
``signature``, the ``signer`` key's fingerprint, ``signed_at`` and ``signed_action``; the
event's own fields give the rest of the :class:`~stageline.signing.Statement`
(environment, digest, actor, note). Each is checked again, with ``ssh-keygen -Y verify``
at the time it was signed, against the allowed signers file the pipeline names *now*:

- a signature altered, or a statement field altered under it: reported;
- a key deleted from the allowed signers file: its signatures are reported (delete a key
  that leaked: whatever it signed is suspect);
- a key *retired* by rotation stays in the file with ``valid-before="YYYYMMDD"``: what it
  signed before then still verifies, nothing it signs after does;
- a good signature by another key than the recorded ``signer``: reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from stageline.config.model import Pipeline
from stageline.errors import Refused
from stageline.identity import allowed_signers_of
from stageline.signing import Statement, verify
from stageline.state import EventRecord, Store


@dataclass(frozen=True)
class SignatureProblem:
    """A stored signature that no longer verifies, and why."""

    event: int
    kind: str
    person: str
    message: str


@dataclass(frozen=True)
class SignatureReport:
    checked: int
    problems: list[SignatureProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


def statement_of(event: EventRecord) -> Statement | None:
    """The statement a signed event claims was signed; None for an unsigned event."""
    data = event.data
    if "signature" not in data:
        return None
    return Statement(
        action=str(data.get("signed_action", "")),
        environment=event.environment or "",
        digest=event.digest or "",
        person=event.actor,
        at=str(data.get("signed_at", "")),
        note=str(data.get("note", "")),
    )


def check_event(event: EventRecord, allowed: Path | None) -> str | None:
    """Why ``event``'s signature does not verify against the ``allowed`` signers file
    now, or None if it does (or is unsigned)."""
    statement = statement_of(event)
    if statement is None:
        return None
    if allowed is None:
        return "the pipeline names no [access] allowed_signers file to check it against"
    try:
        statement.when  # noqa: B018 - a malformed time is a bad record
        signer = verify(statement, str(event.data["signature"]), allowed)
    except (Refused, ValueError) as exc:
        return str(exc)
    if signer != event.data.get("signer"):
        return f"signed by {signer}, recorded as {event.data.get('signer')}"
    return None


def check_signatures(events: Iterable[EventRecord], allowed: Path | None) -> SignatureReport:
    """Check every signed event of ``events``; the problems, oldest first."""
    checked, problems = 0, []
    for event in sorted(events, key=lambda e: e.id):
        if "signature" not in event.data:
            continue
        checked += 1
        reason = check_event(event, allowed)
        if reason is not None:
            problems.append(SignatureProblem(event.id, event.kind, event.actor, reason))
    return SignatureReport(checked, problems)


def verify_store(store: Store, pipeline: Callable[[], Pipeline]) -> SignatureReport:
    """Every signature in ``store``'s audit log, checked (see the module docstring);
    ``pipeline`` (for its allowed signers) is read only when there is a signature."""
    signed = [e for e in store.events(limit=10**9) if "signature" in e.data]
    if not signed:
        return SignatureReport(0, [])
    return check_signatures(signed, allowed_signers_of(pipeline()))
