"""The dashboard in a real browser (Debian's chromium via Playwright) against `stageline serve`.

The scenario: staging holds v1.7.0-rc1 for its two QA approvals; ben signs in and approves
on the page, chen approves through the API, the sign-off diamond turns to "passed" and,
after `stageline promote`, production shows the new version: both without a reload (the
page is the same document throughout, updated over server-sent events). It writes the
screenshots in docs/. The refusals: no session, a forged form token, a reviewer the rule
refuses; none of them stores a verdict, while the same form with its real token does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from stageline.usecases.demo import TAGS
from tests.e2e.helpers import QA, cli
from tests.web.conftest import LEAD, Served

pytestmark = pytest.mark.slow
OLD, NEW = TAGS
ANA, BEN, CHEN = QA
DOCS = Path(__file__).resolve().parents[2] / "docs"
GATES = ("smoke", "integration", "no-real-side-effects", "migrations", "load", "parity")
PIPELINE = [
    "stage-build",
    "stage-development",
    "stage-test",
    "stage-staging",
    "signoff",
    "stage-production",
]
BEN_NOTE = "ben: order flow checked on staging"
OpenPage = Callable[[Served], Page]


def sign_in(page: Page, served: Served, person: str) -> None:
    page.goto("/signin")
    page.get_by_test_id("token-input").fill(served.tokens[person])
    page.get_by_test_id("token-input").press("Enter")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person)
    assert page.url == f"{served.url}/"


def mark_document(page: Page) -> None:
    """Tag the loaded document: a reload or a navigation would lose the tag."""
    page.evaluate("() => { window.sameDocument = true }")


def same_document(page: Page) -> bool:
    return bool(page.evaluate("() => window.sameDocument === true"))


def box(page: Page, environment: str, testid: str) -> str:
    return page.get_by_test_id(f"stage-{environment}").get_by_test_id(testid).inner_text().strip()


def test_held_release_is_signed_off_in_the_browser_and_promoted_live(
    held_release: Served, open_page: OpenPage
) -> None:
    served, short = held_release, held_release.digest.removeprefix("sha256:")[:12]
    page = open_page(served)
    page.goto("/")

    # the pipeline as it is thought of, left to right
    boxes = page.locator("[data-testid^='stage-'], [data-testid='signoff']")
    assert [b.get_attribute("data-testid") for b in boxes.all()] == PIPELINE
    assert page.get_by_test_id("stage-staging").get_attribute("data-gate") == "true"
    assert box(page, "staging", "version") == NEW
    assert box(page, "staging", "digest") == short
    assert box(page, "staging", "health") == "healthy"
    assert box(page, "production", "version") == OLD
    assert box(page, "production", "health") == "healthy"

    # staging is held: every gate passed, approvals missing
    diamond = page.get_by_test_id("signoff")
    expect(diamond).to_have_attribute("data-state", "held")
    for gate in GATES:
        expect(diamond.get_by_test_id(f"gate-{gate}")).to_have_attribute("data-status", "passed")
    expect(diamond.get_by_test_id("approvals")).to_contain_text("0 of 2")
    reasons = page.get_by_test_id("hold-reason")
    expect(reasons).to_have_count(1)
    expect(reasons.first).to_contain_text("0 of 2 approvals")
    expect(page.get_by_test_id("verdict-form")).to_have_count(0)  # anonymous: read only

    # ben signs in with his personal token and approves on the page
    sign_in(page, served, BEN)
    mark_document(page)
    form = page.get_by_test_id("signoff").get_by_test_id("verdict-form")
    form.locator("textarea[name='note']").fill(BEN_NOTE)
    form.get_by_test_id("approve").click()
    expect(page.get_by_test_id("approvals")).to_contain_text("1 of 2")
    expect(page.get_by_test_id("signoff")).to_have_attribute("data-state", "held")
    [ben] = served.verdicts()
    assert (ben.person, ben.kind, ben.note) == (BEN, "approve", BEN_NOTE)
    expect(page.get_by_test_id("hold-reason").first).to_contain_text("1 of 2 approvals")
    page.screenshot(path=str(DOCS / "dashboard-pipeline.png"), full_page=True)  # a reviewer's view

    # chen approves through the API: only the server-sent event can tell this page
    given = httpx.post(
        f"{served.url}/api/environments/staging/verdicts",
        json={"kind": "approve", "note": "chen: payments look right"},
        headers={"Authorization": f"Bearer {served.tokens[CHEN]}"},
        timeout=30,
    )
    assert given.status_code in (200, 201), given.text
    expect(page.get_by_test_id("signoff")).to_have_attribute("data-state", "passed")
    expect(page.get_by_test_id("approvals")).to_contain_text("2 of 2")
    expect(page.get_by_test_id("hold")).to_have_count(0)
    assert box(page, "production", "version") == OLD
    assert same_document(page)

    # promote with the CLI: production changes on the open page
    promoted = cli(served.repo, "promote", "staging", user=LEAD)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    production = page.get_by_test_id("stage-production")
    expect(production.get_by_test_id("version")).to_have_text(NEW)
    expect(production.get_by_test_id("digest")).to_have_text(short)
    expect(production.get_by_test_id("health")).to_have_text("healthy")
    assert same_document(page)

    # the release page: manifest, gate evidence, verdicts with notes, audit trail
    page.goto(f"/releases/{served.digest}")
    manifest = page.get_by_test_id("release-manifest")
    expect(manifest).to_contain_text(NEW)
    expect(manifest).to_contain_text("1.7.0rc1")
    gates = page.get_by_test_id("release-gates")
    for gate in GATES:
        expect(gates).to_contain_text(gate)
    verdicts = page.get_by_test_id("release-verdicts")
    expect(verdicts).to_contain_text(BEN_NOTE)
    expect(verdicts).to_contain_text("chen: payments look right")
    expect(page.get_by_test_id("release-audit")).to_contain_text(re.compile(r"promote"))
    page.screenshot(path=str(DOCS / "dashboard-release.png"))


def post_verdict(page: Page, served: Served, form: dict[str, str]) -> int:
    """POST the sign-off form's fields from the page's browser context (its cookies);
    the status after redirects (a plain form post may be redirected back to the page)."""
    response = page.request.post(f"{served.url}/environments/staging/verdicts", form=form)
    return response.status


def test_a_sign_off_without_a_session_is_refused_and_stores_nothing(
    recorded_release: Served, open_page: OpenPage
) -> None:
    served = recorded_release
    before = served.verdicts()
    page = open_page(served)
    page.goto("/")
    expect(page.get_by_test_id("signoff")).to_have_attribute("data-state", "held")
    expect(page.get_by_test_id("verdict-form")).to_have_count(0)

    form = {"kind": "approve", "note": "no session", "csrf_token": "x" * 40, "next": "/"}
    assert post_verdict(page, served, form) == 401
    api = page.request.post(
        f"{served.url}/api/environments/staging/verdicts", data={"kind": "approve"}
    )
    assert api.status == 401 and "error" in api.json()
    assert served.verdicts() == before


def test_a_sign_off_with_a_forged_form_token_is_refused_and_stores_nothing(
    recorded_release: Served, open_page: OpenPage
) -> None:
    served = recorded_release
    page = open_page(served)
    sign_in(page, served, BEN)
    real = page.get_by_test_id("verdict-form").locator("input[name='csrf_token']").input_value()
    assert len(real) >= 16
    ben_before = [v for v in served.verdicts() if v.person == BEN]

    # the form's fields with ben's session cookie, but a token the server did not issue
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    digest = page.get_by_test_id("verdict-digest").input_value()
    fields = {"kind": "approve", "note": "forged", "next": "/", "digest": digest}
    assert post_verdict(page, served, {**fields, "csrf_token": forged}) == 403
    assert post_verdict(page, served, fields) == 403  # no token at all
    assert [v for v in served.verdicts() if v.person == BEN] == ben_before

    # the very same request with the token the server issued is accepted and stored
    assert post_verdict(page, served, {**fields, "csrf_token": real, "note": "real token"}) == 200
    stored = [v for v in served.verdicts() if v.person == BEN]
    assert len(stored) == len(ben_before) + 1 and stored[-1].note == "real token"


def test_a_reviewer_the_rule_refuses_sees_why_and_nothing_is_stored(
    recorded_release: Served, open_page: OpenPage
) -> None:
    served = recorded_release
    before = served.verdicts()
    page = open_page(served)
    sign_in(page, served, ANA)  # ana deployed this release to staging: no self-approval
    form = page.get_by_test_id("verdict-form")
    with page.expect_response(lambda r: r.url.endswith("/verdicts")) as refused:
        form.get_by_test_id("approve").click()
    assert refused.value.status == 403
    expect(page.get_by_test_id("verdict-error")).to_contain_text("self-approval")
    assert served.verdicts() == before
