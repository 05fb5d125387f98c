"""The audit log: list it, and verify its hash chain.

Every event stores the hash of the one before it (``prev_hash``) and its own hash over
its fields and that link (``state.models.event_hash``). ``check_chain`` walks the events
in id order and names the FIRST one that breaks the chain:

- *altered*: its stored fields no longer give its hash;
- *inserted*: it does not follow the event before it, but the event after it does
  (or it claims to follow an earlier event than the one before it);
- *removed*: the event after a gap does not follow anything that is still there.

A chain only proves its inside: an attacker who can write the table can also cut its
tail or append a re-hashed forgery at the end. ``audit verify`` prints the head (the last
hash); keep it somewhere else, and ``audit verify --head HASH`` proves that everything
up to that point is still there, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from stageline.state import EventRecord, Store
from stageline.state.models import GENESIS_HASH
from stageline.state.secrets import ChainLink

Problem = Literal["altered", "inserted", "removed", "head-missing"]


@dataclass(frozen=True)
class ChainBreak:
    """The first place the chain breaks: ``event`` is the id it names."""

    problem: Problem
    event: int | None
    message: str


@dataclass(frozen=True)
class ChainReport:
    events: int
    head: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def check_chain(links: Sequence[ChainLink], head: str | None = None) -> ChainReport:
    """Verify ``links`` (every event, in id order); pure."""
    last = links[-1].hash if links else GENESIS_HASH
    broken = _first_break(links)
    if broken is None and head is not None and head not in {GENESIS_HASH, *(x.hash for x in links)}:
        broken = ChainBreak(
            "head-missing",
            None,
            f"the recorded head {head[:16]} is not in the chain: events up to it were"
            " removed or rewritten",
        )
    return ChainReport(len(links), last, broken)


def _first_break(links: Sequence[ChainLink]) -> ChainBreak | None:
    position_of = {link.hash: i for i, link in enumerate(links)}
    for i, link in enumerate(links):
        before = links[i - 1] if i else None
        expected = before.hash if before else GENESIS_HASH
        if link.prev_hash != expected:
            return _link_break(links, i, expected, position_of)
        if link.computed != link.hash:
            return ChainBreak(
                "altered",
                link.id,
                f"event {link.id} ({link.kind}) was altered: its fields do not give its hash",
            )
    return None


def _link_break(
    links: Sequence[ChainLink], i: int, expected: str, position_of: dict[str, int]
) -> ChainBreak:
    link = links[i]
    follower = next((j for j in range(i + 1, len(links)) if links[j].prev_hash == expected), None)
    if follower is not None:
        return ChainBreak(
            "inserted",
            link.id,
            f"event {link.id} ({link.kind}) was inserted: the chain continues at event"
            f" {links[follower].id} after the one before it",
        )
    claimed = position_of.get(link.prev_hash)
    if claimed is not None and claimed < i - 1:
        first = links[claimed + 1]
        return ChainBreak(
            "inserted",
            first.id,
            f"event {first.id} ({first.kind}) was inserted: event {link.id} follows event"
            f" {links[claimed].id} directly",
        )
    previous_id = links[i - 1].id if i else 0
    if link.id > previous_id + 1:
        gone = previous_id + 1
        what = f"event {gone}" if link.id == gone + 1 else f"events {gone}-{link.id - 1}"
        return ChainBreak(
            "removed",
            gone,
            f"{what} removed: event {link.id} does not follow event {previous_id or 'none'}",
        )
    if i == 0:
        return ChainBreak(
            "removed",
            link.id,
            f"events before {link.id} were removed: it does not start the chain",
        )
    if i == len(links) - 1:
        return ChainBreak(
            "inserted",
            link.id,
            f"event {link.id} ({link.kind}) was inserted (or event {previous_id} re-hashed):"
            f" it does not follow event {previous_id}",
        )
    return ChainBreak(
        "altered",
        links[i - 1].id,
        f"event {previous_id} ({links[i - 1].kind}) was altered and re-hashed:"
        f" event {link.id} no longer follows it",
    )


def verify(store: Store, *, head: str | None = None) -> ChainReport:
    """Check the whole audit log of ``store``."""
    return check_chain(list(store.vault.chain()), head)


def events(store: Store, environment: str | None = None, *, limit: int = 200) -> list[EventRecord]:
    """The latest events (of ``environment``, when given), oldest first."""
    return list(reversed(store.events(environment, limit=limit)))


def describe(event: EventRecord, hidden: Iterable[str] = ()) -> str:
    """A one-line description of an event's data for listings."""
    shown = {k: ("ssh-sig" if k == "signature" else v) for k, v in event.data.items()}
    parts = [f"{k}={v}" for k, v in sorted(shown.items()) if k not in set(hidden)]
    return " ".join(parts)
