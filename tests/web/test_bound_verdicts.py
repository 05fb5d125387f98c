"""A sign-off is bound to the release the page showed: the form carries its digest, and a
verdict for a digest that no longer serves is refused with both named, nothing stored
(the red team: an approval given on a page showing release A landed on release B)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from stageline.usecases.pipeline import Session
from tests.web.seed import ANA, BEN, Seeded, add_artifact, deploy
from tests.web.test_app import sign_in, verdicts

URL = "/environments/staging/verdicts"


def form_digest(html: str) -> str:
    found = re.search(r'name="digest" value="([^"]*)" data-testid="verdict-digest"', html)
    assert found, html[:500]
    return found.group(1)


def event_count(root: Path) -> int:
    with Session.open(root) as session:
        return len(session.store.events(limit=10_000))


def test_the_forms_carry_the_digest_of_the_release_they_show(
    client: TestClient, seeded: Seeded
) -> None:
    sign_in(client, seeded.tokens[BEN])
    assert form_digest(client.get("/").text) == seeded.new
    assert form_digest(client.get(f"/releases/{seeded.new[7:19]}").text) == seeded.new


def test_a_page_showing_a_release_that_no_longer_serves_cannot_approve_the_new_one(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = sign_in(client, seeded.tokens[BEN])
    shown = form_digest(client.get("/").text)  # release A, on the reviewer's screen
    with Session.open(seeded.root) as session:  # meanwhile B replaces it on staging
        other = add_artifact(session.store, "v1.8.0", datetime.now(UTC))
        deploy(session.store, "staging", other, ANA)
    before = event_count(seeded.root)
    refused = client.post(
        URL,
        data={"kind": "approve", "note": "looked at A", "csrf_token": csrf, "digest": shown},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403, refused.text
    message = re.search(r'data-testid="verdict-error">([^<]*)<', refused.text)
    assert message is not None
    assert f"refusing to approve {shown[:19]} in staging: {other[:19]} serves" in message.group(1)
    assert verdicts(seeded.root) == [] and event_count(seeded.root) == before

    # the page as it is now names B, and approves B
    csrf = sign_in(client, seeded.tokens[BEN])
    again = form_digest(client.get("/").text)
    assert again == other
    given = client.post(URL, data={"kind": "approve", "csrf_token": csrf, "digest": again[:15]})
    assert given.status_code in (200, 303)
    with Session.open(seeded.root) as session:
        (verdict,) = session.store.verdicts("staging")
    assert (verdict.person, verdict.digest) == (BEN, other)


def test_a_form_without_a_digest_is_refused(client: TestClient, seeded: Seeded) -> None:
    csrf = sign_in(client, seeded.tokens[BEN])
    missing = client.post(URL, data={"kind": "approve", "csrf_token": csrf})
    assert missing.status_code == 400 and "reload the page" in missing.text
    assert verdicts(seeded.root) == []


def test_the_api_takes_an_optional_digest_and_refuses_another(
    client: TestClient, seeded: Seeded
) -> None:
    ben = {"Authorization": f"Bearer {seeded.tokens[BEN]}"}
    api = "/api/environments/staging/verdicts"
    old = client.post(api, json={"kind": "approve", "digest": seeded.old}, headers=ben)
    assert old.status_code == 403 and seeded.new[:19] in old.json()["error"]
    assert verdicts(seeded.root) == []
    bad = client.post(api, json={"kind": "approve", "digest": "zz"}, headers=ben)
    assert bad.status_code == 400 and "is not a digest" in bad.json()["error"]
    done = client.post(api, json={"kind": "approve", "digest": seeded.new}, headers=ben)
    assert done.status_code == 201 and done.json()["verdict"]["digest"] == seeded.new
