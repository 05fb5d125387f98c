"""tokens create / list / revoke, and audit [ENV] / audit verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption, SignWithOption
from stageline.errors import Refused
from stageline.identity import current_actor, current_credentials
from stageline.redact import scrub_value
from stageline.usecases import audit as audit_log
from stageline.usecases import permissions, signed_audit
from stageline.usecases import tokens as personal
from stageline.usecases.pipeline import Session
from stageline.values import short

tokens_app = typer.Typer(
    help="Personal access tokens for the dashboard and API.", no_args_is_help=True
)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What the token is for (e.g. laptop, ci).")],
    expires: Annotated[
        str | None, typer.Option(help="30d, 12h, 2w, or a date with a zone. Default: never.")
    ] = None,
    for_person: Annotated[
        str | None,
        typer.Option("--for", help="Someone else (admins only, signing with their key)."),
    ] = None,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
) -> None:
    """Make a token for you, once you proved who you are; it is shown only once.

    Prove it with your SSH key (--sign-with), a token you already have (STAGELINE_TOKEN),
    or, in [access] mode = "single-person", STAGELINE_USER alone.
    """
    when = personal.parse_expiry(expires) if expires else None
    credentials = current_credentials(sign_with)
    with Session.open(directory) as session:
        token, record = permissions.mint_token(
            session, name, person=for_person, expires_at=when, credentials=credentials
        )
    output.success(
        f"token {record.name!r} for {record.person}"
        + (f", valid until {when:%Y-%m-%d %H:%M} UTC" if when else "")
    )
    output.out.print(token, markup=False)
    output.warning("copy it now: stageline keeps only its hash and cannot show it again")


@tokens_app.command("list")
def list_(
    everyone: Annotated[bool, typer.Option("--all", help="Everyone's tokens.")] = False,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """Your tokens (names, dates, state); never the tokens themselves."""
    with Session.open(directory) as session:
        rows = session.store.vault.tokens(None if everyone else current_actor())
    shown = [{k: v for k, v in vars(r).items() if k != "token_hash"} for r in rows]
    if json:
        output.emit_json(shown)
        return
    table = Table("name", "person", "created", "expires", "state", "last used")
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for r in rows:
        state = "revoked" if r.revoked_at else ("active" if r.active(now) else "expired")
        output.add_row(
            table,
            r.name,
            r.person,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.expires_at:%Y-%m-%d %H:%M}" if r.expires_at else "never",
            state,
            f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "-",
        )
    output.out.print(table)


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    directory: DirOption = Path("."),
) -> None:
    """Revoke your token NAME at once."""
    with Session.open(directory) as session:
        personal.revoke_token(session.store, name, current_actor())
    output.success(f"token {name!r} revoked")


def audit(
    target: Annotated[
        str | None,
        typer.Argument(help="An environment to list, or `verify` to check the chain."),
    ] = None,
    head: Annotated[
        str | None, typer.Option(help="With verify: a head hash recorded earlier.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many events to list.")] = 100,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """List the audit log (of ENV), or `audit verify`: check its hash chain."""
    with Session.open(directory) as session:
        if target == "verify":
            return _verify(session, head, json)
        if target is not None:
            session.pipeline().environment(target)
        events = audit_log.events(session.store, target, limit=limit)
    if json:
        output.emit_json([scrub_value(vars(e)) for e in events])
        return 0
    table = Table("#", "at", "actor", "event", "environment", "digest", "detail")
    for e in events:
        output.add_row(
            table,
            str(e.id),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.actor,
            e.kind,
            e.environment or "-",
            short(e.digest) or "-",
            scrub_value(audit_log.describe(e)),
        )
    output.out.print(table)
    return 0


def _verify(session: Session, head: str | None, json: bool) -> int:
    report = audit_log.verify(session.store, head=head)
    signed = signed_audit.verify_store(session.store, session.pipeline)
    if json:
        broken = report.broken
        output.emit_json(
            {
                "ok": report.ok and signed.ok,
                "empty": report.empty,
                "events": report.events,
                "records": report.rows,
                "head": report.head,
                "broken": vars(broken) if broken else None,
                "bad_records": [vars(problem) for problem in report.records],
                "signatures": {
                    "checked": signed.checked,
                    "problems": [vars(p) for p in signed.problems],
                },
            }
        )
        return 0 if report.ok and signed.ok else 1
    if report.first_bad is not None:
        more = len(report.records) - (0 if report.broken else 1)
        raise Refused(
            f"the audit log is broken: {report.first_bad}"
            + (f" (and {more} more bad records)" if more > 0 else ""),
            hint="restore the state store from a backup; `stageline audit verify --json` lists"
            " every bad record",
        )
    if signed.problems:
        first = signed.problems[0]
        raise Refused(
            f"{len(signed.problems)} of {signed.checked} signatures do not verify; first:"
            f" event {first.event} ({first.kind} by {first.person}): {first.message}",
            hint="`stageline audit verify --json` lists them all; a key removed from the"
            " allowed signers file un-verifies what it signed (retire keys with valid-before)",
        )
    if report.empty:
        output.success("the audit log is empty: no events and no decisions to verify")
        return 0
    output.success(
        f"the audit log's {report.events} events chain up and vouch for its"
        f" {report.rows} decisions; head {report.head}; {signed.checked} signatures verify"
    )
    return 0
