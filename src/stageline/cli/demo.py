"""``stageline demo``: the main job, the whole pipeline on the bundled example service."""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import indent
from typing import Annotated

import typer

from stageline.cli import output
from stageline.cli.deploy import status as draw_status
from stageline.cli.parity import draw as draw_parity
from stageline.errors import Refused
from stageline.gates.base import GateResult
from stageline.gates.load import load_reports
from stageline.gates.migrations import rehearsal_reports
from stageline.parity.report import parity_view
from stageline.usecases import deploy as usecases
from stageline.usecases import verification
from stageline.usecases.demo import TAGS, prepare_demo_repo, reset_demo_state, serve_traffic
from stageline.usecases.pipeline import Session
from stageline.values import label

#: production's payment key, a secret the example declares (set a real one to use it)
DEMO_SECRET = "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY"

#: the example's QA group (examples/shop/stageline.toml, [people.groups])
REVIEWERS = ("ana@shop.example", "ben@shop.example")


def _sign_off(session: Session, environment: str) -> None:
    """Run the environment's gates, then two reviewers approve, as on the command line."""
    output.step(f"verifying {environment}: its gates run against the digest running there")

    def show(name: str, result: GateResult | None) -> None:
        if result is not None:
            output.out.print(
                f"    {name}: {result.status} in {result.duration:.1f}s: {result.summary}",
                markup=False,
            )

    report = verification.verify(session, environment, progress=show)
    for name, text in rehearsal_reports(report.runs) + load_reports(report.runs):
        output.out.print(f"    {name} report:", markup=False)
        output.out.print(indent(text.rstrip(), "      "), markup=False, soft_wrap=True)
    if not report.passed:
        raise Refused(f"{environment}'s gates did not pass", hint="see `stageline verify`")
    for person in REVIEWERS:
        output.step(f"STAGELINE_USER={person} stageline approve {environment}")
        verification.give_verdict(
            session, environment, "approve", person=person, note="checked in the demo"
        )
    following = session.pipeline().next_after(environment)
    assert following is not None
    decision = verification.signoff_for(session, environment, following.name)
    output.success(
        f"sign-off: {len(decision.approvals_counted)} of {decision.approvals_required} "
        f"approvals, gates {', '.join(f'{g} {s}' for g, s in decision.gates.items())}"
    )


def _users(session: Session, environment: str) -> None:
    """Production serves users for a few seconds while its proxy records the traffic's
    shape (route templates, rates, statuses; never a value of a request): the load gate
    replays that shape on staging next."""
    url = session.pipeline().environment(environment).url
    output.step(f"{environment} serves users for 3 s; its proxy records the traffic's shape")
    sent, answered = serve_traffic(url)
    output.success(
        f"{environment}: {answered} of {sent} requests answered "
        f"(see `stageline traffic {environment}`)"
    )


def demo(
    path: Annotated[
        Path, typer.Option(help="Where to create the demo service's git repository.")
    ] = Path("stageline-demo"),
) -> None:
    """Ship the example service (FastAPI + PostgreSQL) from development to production."""
    old, new = TAGS
    if DEMO_SECRET not in os.environ:  # production's payment key is a secret; a dummy here
        os.environ[DEMO_SECRET] = "sk_demo_not_a_real_key"
    output.step(f"preparing the example service's git repository in {path}")
    repo = prepare_demo_repo(path)
    if reset_demo_state(repo):
        output.out.print("    (stopped the previous demo's environments; stored artifacts kept)")
    output.success(f"{repo}: tags {old} and {new} (which adds a schema migration)")

    with Session.open(repo) as session:
        pipe = session.pipeline()
        last = pipe.environments[-1].name
        before_last = pipe.environments[-2].name
        for tag in TAGS:
            output.step(f"shipping {tag}: build once, then {' -> '.join(pipe.names[:-1])}")
            with output.progress(f"shipping {tag}") as report:
                for result in usecases.ship(session, tag, progress=report):
                    output.success(
                        f"{result.plan.environment}: {result.plan.artifact.version} "
                        f"{label(result.plan.artifact.digest)} healthy"
                    )
            if session.store.current_deployment(last) is not None:
                _users(session, last)
            _sign_off(session, before_last)
            draw_parity(parity_view(session, before_last, last))  # parity before production
            output.step(f"promoting {before_last} to {last} (the same digest)")
            with output.progress(f"promoting {before_last}") as report:
                promoted = usecases.promote(session, before_last, progress=report)
            assert isinstance(promoted, usecases.Deployed)
            output.success(
                f"{last}: {promoted.plan.artifact.version} "
                f"{label(promoted.plan.artifact.digest)} healthy"
            )
    output.out.print()
    draw_status(directory=repo, json=False)
    output.out.print()
    output.out.print("Try:  curl URL/healthz   curl URL/products   (URLs above)")
    output.out.print()
    output.out.print("The environments keep running. Look around:")
    output.line(f"  cd {path}")
    output.out.print("  stageline status    stageline history    stageline logs staging")
    output.out.print(
        f"  stageline rollback {last}      # back to {old}, no rebuild: its schema is older,"
        " so it asks for --migrate or --keep-schema"
    )
    output.line(f"Stop them all:  cd {path} && stageline down")
