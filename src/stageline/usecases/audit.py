"""The audit log: list it, and verify its hash chain.

Every event stores the hash of the one before it (``prev_hash``) and its own hash over
its fields and that link (``state.models.event_hash``). ``check_chain`` walks the events
in id order and names the FIRST one that breaks the chain:

- *altered*: its stored fields no longer give its hash;
- *inserted*: it does not follow the event before it, but the event after it does
  (or it claims to follow an earlier event than the one before it);
- *removed*: the event after a gap does not follow anything that is still there.

Decisions are chained too (``state/verification.py``): each gate run and verdict row
names the event that recorded it, and that event carries the row's content hash.
``check_records`` names every row that no trusted event vouches for as it is now:

- *unchained*: the row names no event (written around stageline);
- *forged*: the event it names is not in the chain (before its first break);
- *altered*: its content no longer gives the hash its event recorded, or the event
  vouches for another row;
- *reverted*: a later event recorded another state of it (a withdrawal undone);
- *removed*: an event recorded it and the row is gone.

Only events before the chain's first break are trusted; the sign-off counts only rows
with no problem, and holds a release with a bad record of its own.

A chain only proves its inside: an attacker who can write the table can also cut its
tail or append a re-hashed forgery at the end. ``audit verify`` prints the head (the last
hash); keep it somewhere else, and ``audit verify --head HASH`` proves that everything
up to that point is still there, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from stageline.state import EventRecord, Store
from stageline.state.models import GENESIS_HASH
from stageline.state.secrets import ChainLink
from stageline.state.verification import RecordLink

Problem = Literal["altered", "inserted", "removed", "head-missing"]
RecordProblemKind = Literal["unchained", "forged", "altered", "reverted", "removed"]


@dataclass(frozen=True)
class RecordProblem:
    """A decision row (``table``, ``id``) the chain does not vouch for as it is."""

    problem: RecordProblemKind
    table: str
    id: int
    environment: str | None
    digest: str | None
    message: str


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
    #: decision rows the chain does not vouch for, by table and id
    records: tuple[RecordProblem, ...] = ()
    #: how many decision rows were checked
    rows: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.records

    @property
    def empty(self) -> bool:
        """Nothing to verify: no event and no decision row."""
        return self.events == 0 and self.rows == 0

    @property
    def first_bad(self) -> str | None:
        """The message naming the first bad record of any kind (events first)."""
        if self.broken is not None:
            return self.broken.message
        return self.records[0].message if self.records else None


@dataclass(frozen=True)
class RecordCheck:
    """The outcome of :func:`check_records`: which rows count, and what is wrong."""

    problems: tuple[RecordProblem, ...]
    trusted: frozenset[tuple[str, int]] = field(default_factory=frozenset)


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
        if i == len(links) - 1:  # a crafted last row with a made-up id looks the same
            return ChainBreak(
                "inserted",
                link.id,
                f"event {link.id} ({link.kind}) does not follow event {previous_id or 'none'}:"
                f" it was inserted, or {what} removed",
            )
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


def trusted_events(links: Sequence[ChainLink]) -> list[ChainLink]:
    """The events before the chain's first break (all of them when it holds)."""
    broken = _first_break(links)
    if broken is None:
        return list(links)
    cut = next((i for i, link in enumerate(links) if link.id >= (broken.event or 0)), 0)
    return list(links[:cut])


def check_records(links: Sequence[ChainLink], rows: Sequence[RecordLink]) -> RecordCheck:
    """Which decision ``rows`` the chain ``links`` vouches for as they are; pure.

    Problems come sorted by table and id, removed rows (no row to sort by) last."""
    trusted = trusted_events(links)
    by_hash = {link.hash: link for link in trusted}
    latest = {link.record[:2]: link for link in trusted if link.record is not None}
    ordered = sorted(rows, key=_row_key)
    problems = [p for row in ordered if (p := _row_problem(row, by_hash, latest)) is not None]
    present = {(row.table, row.id) for row in rows}
    problems += [
        _removed(table, ident, link)
        for (table, ident), link in sorted(latest.items())
        if (table, ident) not in present
    ]
    bad = {(p.table, p.id) for p in problems}
    return RecordCheck(tuple(problems), frozenset(present - bad))


def _removed(table: str, ident: int, link: ChainLink) -> RecordProblem:
    return RecordProblem(
        "removed",
        table,
        ident,
        link.environment,
        link.digest,
        f"{table} {ident} was removed: event {link.id} ({link.kind}) recorded it",
    )


def _row_key(row: RecordLink) -> tuple[str, int]:
    return row.table, row.id


def _row_problem(
    row: RecordLink, by_hash: dict[str, ChainLink], latest: dict[tuple[str, int], ChainLink]
) -> RecordProblem | None:
    name = f"{row.table} {row.id}"

    def problem(kind: RecordProblemKind, why: str) -> RecordProblem:
        return RecordProblem(kind, row.table, row.id, row.environment, row.digest, f"{name} {why}")

    if row.event_hash is None:
        return problem("unchained", "is not in the audit chain: no event recorded it")
    event = by_hash.get(row.event_hash)
    if event is None or event.record is None:
        return problem("forged", "was not recorded by stageline: its event is not in the chain")
    if event.record[:2] != (row.table, row.id):
        table, ident, _ = event.record
        return problem("altered", f"was altered: event {event.id} recorded {table} {ident}")
    if event.record[2] != row.computed:
        return problem(
            "altered", f"was altered: its content does not give the hash event {event.id} recorded"
        )
    newest = latest[(row.table, row.id)]
    if newest.id != event.id:
        return problem(
            "reverted", f"was reverted: event {newest.id} ({newest.kind}) recorded a later state"
        )
    return None


def verify(store: Store, *, head: str | None = None) -> ChainReport:
    """Check the whole audit log of ``store``: the event chain, then every decision row."""
    links = list(store.vault.chain())
    rows = store.record_links()
    report = check_chain(links, head)
    records = check_records(links, rows)
    return ChainReport(report.events, report.head, report.broken, records.problems, len(rows))


def trusted_records(store: Store) -> RecordCheck:
    """The decision rows of ``store`` that count (for the sign-off), and the bad ones."""
    return check_records(list(store.vault.chain()), store.record_links())


def events(store: Store, environment: str | None = None, *, limit: int = 200) -> list[EventRecord]:
    """The latest events (of ``environment``, when given), oldest first."""
    return list(reversed(store.events(environment, limit=limit)))


def describe(event: EventRecord, hidden: Iterable[str] = ()) -> str:
    """A one-line description of an event's data for listings."""
    shown = {k: ("ssh-sig" if k == "signature" else v) for k, v in event.data.items()}
    parts = [f"{k}={v}" for k, v in sorted(shown.items()) if k not in set(hidden)]
    return " ".join(parts)
