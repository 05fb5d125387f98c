"""verify, approve, reject."""

from __future__ import annotations

from json import dumps
from pathlib import Path
from textwrap import indent
from typing import Annotated

import typer
from rich.table import Table

from stageline.cli import output
from stageline.cli.app import DirOption, JsonOption, SignWithOption
from stageline.errors import Refused, UsageError
from stageline.gates.base import GateResult
from stageline.gates.load import load_reports
from stageline.gates.migrations import rehearsal_reports
from stageline.gates.runner import junit_xml, results_json
from stageline.host.outbox import outbox_path, read_outbox
from stageline.identity import current_credentials
from stageline.state import DeploymentRecord
from stageline.usecases import verification
from stageline.usecases.pipeline import Session
from stageline.usecases.views import release_json, release_of
from stageline.values import label

EnvArgument = Annotated[str, typer.Argument(help="An environment name from the pipeline file.")]
DigestOption = Annotated[
    str | None,
    typer.Option(
        help="The digest you mean (full or a unique prefix); refused unless it serves there."
        " Default: the one serving."
    ),
]
_MARK = {"passed": "[green]passed[/]", "failed": "[red]failed[/]", "error": "[red]error[/]"}


def verify(
    environment: EnvArgument,
    gate: Annotated[str | None, typer.Option(help="Run only this gate.")] = None,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report here.")] = None,
    digest: DigestOption = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> int:
    """Run ENVIRONMENT's gates against the digest running there; exit 1 unless all pass."""

    def progress(name: str, result: GateResult | None) -> None:
        if json:
            return
        if result is None:
            output.out.print(f"    [dim]{output.safe(name)}: running[/]")
        else:  # a long summary wrapped and cut: --json has it whole
            output.labelled(
                f"    {output.safe(name)}: {_MARK[result.status]} in {result.duration:.1f}s: ",
                result.summary,
                stderr=False,
                max_lines=3 * output.MAX_LINES,  # the store and --json: whole
            )

    with Session.open(directory) as session:
        current = _bound(session, environment, digest, "verify")
        if not json:
            output.step(f"verifying {_release(session, current.digest)} on {environment}")
        report = verification.verify(
            session, environment, gate=gate, progress=progress, digest=current.digest
        )
        release = release_of(session, report.digest)
    results = report.results
    for name, text in [] if json else rehearsal_reports(report.runs) + load_reports(report.runs):
        output.out.print(f"    {name} report:", markup=False)
        output.out.print(indent(text.rstrip(), "      "), markup=False, soft_wrap=True)
    if junit is not None:
        junit.write_text(junit_xml(report.environment, report.digest, results), encoding="utf-8")
    if json:
        output.emit_json(
            {**release_json(release), **results_json(report.environment, report.digest, results)}
        )
    elif report.passed:
        output.success(f"every gate passed for {release.label} ({label(report.digest)})")
    else:
        failed = [name for name, run in report.runs.items() if run.status != "passed"]
        output.error_line(
            f"{', '.join(failed)} did not pass for {release.label} in {report.environment}",
            "the release stays held here until they pass for this digest",
        )
    return 0 if report.passed else 1


def approve(
    environment: EnvArgument,
    note: Annotated[str, typer.Option(help="Why you approve (kept in the audit log).")] = "",
    digest: DigestOption = None,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
) -> None:
    """Approve the digest running in ENVIRONMENT, as the person your key or token proves.

    Sign with your SSH key (--sign-with or STAGELINE_SIGNING_KEY; the key must be yours
    in the pipeline's allowed signers) or use your personal token (STAGELINE_TOKEN).
    STAGELINE_USER alone is enough only in [access] mode = "single-person".
    """
    credentials = current_credentials(sign_with)
    with Session.open(directory) as session:
        current = _bound(session, environment, digest, "approve")
        output.step(f"approving {_release(session, current.digest)} on {environment}")
        verdict = verification.give_verdict(
            session,
            environment,
            "approve",
            note=note,
            digest=current.digest,
            credentials=credentials,
        )
    output.success(f"{verdict.person} approved {label(verdict.digest)} in {verdict.environment}")


def reject(
    environment: EnvArgument,
    reason: Annotated[str | None, typer.Option(help="What is wrong (required).")] = None,
    withdraw: Annotated[bool, typer.Option(help="Withdraw your rejection instead.")] = False,
    digest: DigestOption = None,
    sign_with: SignWithOption = None,
    directory: DirOption = Path("."),
) -> None:
    """Reject the digest running in ENVIRONMENT: it is held until a new digest arrives."""
    credentials = current_credentials(sign_with)
    with Session.open(directory) as session:
        if not withdraw and not reason:
            raise UsageError("a rejection needs --reason", hint="say what must change")
        current = _bound(session, environment, digest, "reject")
        doing = "withdrawing your rejection of" if withdraw else "rejecting"
        output.step(f"{doing} {_release(session, current.digest)} on {environment}")
        if withdraw:
            count = verification.withdraw_rejection(
                session, environment, digest=current.digest, credentials=credentials
            )
            if not count:
                raise Refused(f"you have no active rejection in {environment} to withdraw")
            output.success(f"withdrew your rejection in {environment}")
            return
        verdict = verification.give_verdict(
            session,
            environment,
            "reject",
            note=reason or "",
            digest=current.digest,
            credentials=credentials,
        )
    output.success(f"{verdict.person} rejected {label(verdict.digest)} in {verdict.environment}")


def _bound(session: Session, environment: str, digest: str | None, action: str) -> DeploymentRecord:
    env = session.pipeline().environment(environment)
    return verification.bound(session, env, digest, action)


def _release(session: Session, digest: str) -> str:
    """``shop 1a2b3c4d5e6f``: the service and the short digest a decision is for."""
    return f"{session.pipeline().service.name} {digest.removeprefix('sha256:')[:12]}"


def outbox(
    environment: EnvArgument,
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. payments.")] = None,
    directory: DirOption = Path("."),
    json: JsonOption = False,
) -> None:
    """List the side effects ENVIRONMENT's service would have performed (not production)."""
    with Session.open(directory) as session:
        env = session.pipeline().environment(environment)
        records = read_outbox(outbox_path(session.workspace.home, env.name))
    if kind is not None:
        records = [r for r in records if r.get("kind") == kind]
    if json:
        output.emit_json(records)
        return
    if not records:
        output.line(f"nothing in {environment}'s outbox")
        return
    table = Table("at", "kind", "function", "arguments", "version")
    for record in records:
        output.add_row(
            table,
            str(record.get("at", ""))[:19],
            str(record.get("kind", "")),
            str(record.get("function", "")),
            dumps(record.get("args", {}), sort_keys=True)[:120],
            str(record.get("version", "")),
        )
    output.out.print(table)
