"""Signing out ends the session server-side: a copy of the cookie saved before sign-out
neither signs off nor reads afterwards (issue 18, break 8). Starlette's TestClient on a
real workspace and store."""

from __future__ import annotations

from starlette.testclient import TestClient

from stageline.web import create_app
from tests.web.seed import BEN, KEY, Seeded, set_anonymous
from tests.web.test_app import sign_in, verdicts


def test_a_cookie_saved_before_sign_out_no_longer_approves_or_reads(seeded: Seeded) -> None:
    set_anonymous(seeded.root / "stageline.toml", "none")
    app = create_app(seeded.root, secret_key=KEY)
    with TestClient(app) as client:
        csrf = sign_in(client, seeded.tokens[BEN])
        saved = client.cookies["stageline_session"]
        assert client.get("/api/pipeline").status_code == 200  # the session reads
        out = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
    with TestClient(app, cookies={"stageline_session": saved}) as replay:
        approve = replay.post(
            "/environments/staging/verdicts", data={"kind": "approve", "csrf_token": csrf}
        )
        assert approve.status_code == 401
        page = replay.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/signin")
        assert replay.get("/api/pipeline").status_code == 401
    assert verdicts(seeded.root) == []


def test_signing_in_again_gives_a_new_session_and_the_old_cookie_dies(seeded: Seeded) -> None:
    app = create_app(seeded.root, secret_key=KEY)
    with TestClient(app) as client:
        old_csrf = sign_in(client, seeded.tokens[BEN])
        first = client.cookies["stageline_session"]
        sign_in(client, seeded.tokens[BEN])
        assert client.cookies["stageline_session"] != first
        assert "signed-in-as" in client.get("/").text
    with TestClient(app, cookies={"stageline_session": first}) as replay:
        refused = replay.post(
            "/environments/staging/verdicts", data={"kind": "approve", "csrf_token": old_csrf}
        )
        assert refused.status_code == 401
        assert "signed-in-as" not in replay.get("/").text
    assert verdicts(seeded.root) == []
