"""The dashboard's pages through Starlette's TestClient on a real workspace and store:
rendering, sign-in, CSRF, sign-off under the CLI's rules, masking, anonymous access; and
`stageline serve` as a real process (its URL line, server-sent events, SIGTERM)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from stageline.errors import ConfigError
from stageline.usecases.pipeline import Session
from stageline.web import create_app
from tests.web.seed import (
    ANA,
    BEN,
    CHEN,
    KEY,
    LEAKED,
    NEW,
    OLD,
    WAIVED,
    Seeded,
    add_artifact,
    deploy,
    set_anonymous,
)


def ids_in(html: str) -> list[str]:
    return re.findall(r'data-testid="([^"]+)"', html)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, token: str) -> str:
    """Sign in like the form does; the CSRF token of the new session."""
    form = client.get("/signin").text
    done = client.post(
        "/signin", data={"token": token, "csrf_token": csrf_of(form), "next": "/"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    page = client.get("/").text
    return csrf_of(page)


def verdicts(root: Path) -> list[tuple[str, str, str]]:
    with Session.open(root) as session:
        return [(v.person, v.kind, v.note) for v in session.store.verdicts("staging")]


def test_the_pipeline_page_draws_every_stage_in_order_with_the_held_sign_off(
    client: TestClient, seeded: Seeded
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    boxes = [t for t in ids_in(page.text) if t.startswith("stage-") or t == "signoff"]
    assert boxes == [
        "stage-build", "stage-development", "stage-test", "stage-staging", "signoff",
        "stage-production",
    ]  # fmt: skip
    html = page.text
    staging = html[html.index('data-testid="stage-staging"') :]
    assert staging.startswith('data-testid="stage-staging" data-gate="true"')
    assert f'data-testid="version">{NEW}<' in staging
    assert f">{seeded.new[7:19]}</a>" in staging
    assert 'data-testid="health">down<' in staging  # recorded, but nothing runs
    production = html[html.index('data-testid="stage-production"') :]
    assert f'data-testid="version">{OLD}<' in production
    assert 'data-gate="true"' not in production
    diamond = html[
        html.index('data-testid="signoff"') : html.index('data-testid="stage-production"')
    ]
    assert 'data-state="held"' in diamond
    assert 'data-testid="gate-smoke" data-status="passed"' in diamond
    assert 'data-testid="gate-parity" data-status="pending"' in diamond  # never ran
    assert re.search(r'data-testid="approvals"><strong>0 of 2</strong>', diamond)
    reasons = re.findall(r'data-testid="hold-reason">([^<]+)<', diamond)
    assert any("gate parity has not run" in r for r in reasons)
    assert any("0 of 2 approvals" in r for r in reasons)
    assert "verdict-form" not in html  # anonymous visitors read only
    assert 'sse-connect="/events"' in html and 'hx-get="/fragments/pipeline"' in html
    assert page.headers["x-frame-options"] == "DENY"  # no sign-off button in a frame


def test_the_fragment_is_the_pipeline_alone(client: TestClient) -> None:
    fragment = client.get("/fragments/pipeline").text
    assert "<html" not in fragment and 'data-testid="signoff"' in fragment


def test_a_passed_sign_off_shows_no_hold_and_the_way_to_production(
    client: TestClient, seeded: Seeded
) -> None:
    with Session.open(seeded.root) as session:
        session.store.record_gate_run(
            "staging", seeded.new, "parity", kind="parity", status="passed",
            started_at=session.store.deployments(limit=1)[0].started_at, duration=1.0,
            summary="no drift", evidence={"against": "production", "rows": []},
            report_path=None, actor=ANA,
        )  # fmt: skip
        for person in (BEN, CHEN):
            session.store.add_verdict("staging", seeded.new, person=person, kind="approve")
    html = client.get("/").text
    assert 'data-testid="signoff" data-state="passed"' in html
    assert 'data-testid="hold"' not in html and "stageline promote staging" in html
    assert re.search(r"<strong>2 of 2</strong>", html)
    with Session.open(seeded.root) as session:
        deploy(session.store, "production", seeded.new, "lead@shop.example")
    sign_in(client, seeded.tokens[BEN])
    promoted = client.get("/").text
    assert "in production now" in promoted and "verdict-form" not in promoted


def test_sign_in_sets_a_signed_http_only_cookie_and_shows_the_person(
    client: TestClient, seeded: Seeded
) -> None:
    form = client.get("/signin").text
    assert 'data-testid="token-input"' in form
    done = client.post(
        "/signin",
        data={"token": seeded.tokens[BEN], "csrf_token": csrf_of(form), "next": "/"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert seeded.tokens[BEN] not in done.headers["set-cookie"]  # only the token's hash
    page = client.get("/").text
    assert re.search(rf'data-testid="signed-in-as">{re.escape(BEN)}<', page)
    assert 'data-testid="verdict-form"' in page


def test_a_bad_token_or_a_missing_form_token_does_not_sign_in(
    client: TestClient, seeded: Seeded
) -> None:
    form = client.get("/signin").text
    bad = client.post("/signin", data={"token": "stl_nope", "csrf_token": csrf_of(form)})
    assert bad.status_code == 401 and "unknown token" in bad.text
    forged = client.post("/signin", data={"token": seeded.tokens[BEN], "csrf_token": "x"})
    assert forged.status_code == 403
    assert "signed-in-as" not in client.get("/").text


def test_an_open_redirect_after_sign_in_goes_home_instead(
    client: TestClient, seeded: Seeded
) -> None:
    form = client.get("/signin").text
    done = client.post(
        "/signin",
        data={"token": seeded.tokens[BEN], "csrf_token": csrf_of(form), "next": "//evil.test/"},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/"


def test_signing_off_needs_a_session_and_the_session_csrf_token(
    client: TestClient, seeded: Seeded
) -> None:
    url = "/environments/staging/verdicts"
    anonymous = client.post(url, data={"kind": "approve", "csrf_token": "x"})
    assert anonymous.status_code == 401
    csrf = sign_in(client, seeded.tokens[BEN])
    forged = client.post(url, data={"kind": "approve", "csrf_token": csrf[:-3] + "zzz"})
    assert forged.status_code == 403
    missing = client.post(url, data={"kind": "approve", "note": "x"})
    assert missing.status_code == 403
    assert verdicts(seeded.root) == []
    given = client.post(
        url, data={"kind": "approve", "note": "checked checkout", "csrf_token": csrf, "next": "/",
                   "digest": seeded.new},
        follow_redirects=False,
    )  # fmt: skip
    assert given.status_code == 303 and given.headers["location"] == "/"
    assert verdicts(seeded.root) == [(BEN, "approve", "checked checkout")]
    assert re.search(r"<strong>1 of 2</strong>", client.get("/").text)


def test_an_htmx_sign_off_answers_a_fragment_and_triggers_a_refresh(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = sign_in(client, seeded.tokens[CHEN])
    given = client.post(
        "/environments/staging/verdicts",
        data={"kind": "reject", "note": "prices wrong", "csrf_token": csrf, "digest": seeded.new},
        headers={"HX-Request": "true"},
    )
    assert given.status_code == 200 and given.headers["hx-trigger"] == "verdict-given"
    assert f"rejected as {CHEN}" in given.text
    assert verdicts(seeded.root) == [(CHEN, "reject", "prices wrong")]
    assert f"rejected by {CHEN}" in client.get("/").text


def test_a_reviewer_the_rule_refuses_sees_why_and_nothing_is_stored(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = sign_in(client, seeded.tokens[ANA])  # ana put this release on staging
    refused = client.post(
        "/environments/staging/verdicts",
        data={"kind": "approve", "csrf_token": csrf, "digest": seeded.new},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 403
    assert re.search(r'data-testid="verdict-error">[^<]*self-approval is off', refused.text)
    assert verdicts(seeded.root) == []
    with Session.open(seeded.root) as session:
        assert session.store.events(limit=1)[0].kind == "approve.refused"  # audited


def test_a_revoked_token_ends_the_session(client: TestClient, seeded: Seeded) -> None:
    csrf = sign_in(client, seeded.tokens[BEN])
    with Session.open(seeded.root) as session:
        session.store.vault.revoke_tokens("web", BEN)
    refused = client.post(
        "/environments/staging/verdicts", data={"kind": "approve", "csrf_token": csrf}
    )
    assert refused.status_code == 401 and verdicts(seeded.root) == []
    assert "signed-in-as" not in client.get("/").text


def test_the_release_page_shows_manifest_evidence_timeline_and_audit_with_secrets_masked(
    client: TestClient, seeded: Seeded
) -> None:
    with Session.open(seeded.root) as session:
        session.store.add_verdict(
            "staging", seeded.new, person=BEN, kind="approve", note=f"key was {LEAKED}"
        )
    page = client.get(f"/releases/{seeded.new[7:19]}")
    assert page.status_code == 200
    html = page.text
    for section in ("release-manifest", "release-gates", "release-verdicts", "release-audit"):
        assert f'data-testid="{section}"' in html
    assert "GET http://127.0.0.1:1/healthz" in html  # the smoke request and its response
    assert "<strong>12</strong> tests" in html
    assert 'class="chart timeline"' in html and "orders AccessExclusiveLock" in html
    assert "orders stalled" in html
    assert WAIVED in html  # a waived rehearsal finding, with its reason
    assert LEAKED not in html and "[secret:PAYMENT_API_KEY]" in html
    assert "deploy.succeeded" in html and "gate.passed" in html
    assert 'data-testid="signoff" data-state="held"' in html  # it is the one waiting


def test_a_release_is_found_by_full_digest_or_a_unique_prefix_only(
    client: TestClient, seeded: Seeded
) -> None:
    assert client.get(f"/releases/{seeded.old}").status_code == 200
    assert client.get(f"/releases/{seeded.old[7:18]}").status_code == 400  # 11 hex
    assert client.get("/releases/" + "0" * 64).status_code == 404
    with Session.open(seeded.root) as session:
        twin = seeded.new[:19] + "0" * (71 - 19)
        add_artifact(session.store, "v9", seeded.new and session.store.list_artifacts()[0].built_at,
                     digest=twin)  # fmt: skip
    ambiguous = client.get(f"/releases/{seeded.new[7:19]}")
    assert ambiguous.status_code == 400 and "ambiguous" in ambiguous.text


def test_history_filters_by_environment_and_status(client: TestClient, seeded: Seeded) -> None:
    with Session.open(seeded.root) as session:
        deploy(session.store, "staging", seeded.old, ANA, status="failed")
    html = client.get("/history?environment=staging&status=failed").text
    rows = re.findall(r'<tr class="d-(\w+)" data-testid="deployment">', html)
    assert rows == ["failed"]
    assert len(re.findall('data-testid="deployment"', client.get("/history").text)) == 5
    assert client.get("/history?environment=nowhere").status_code == 404
    assert client.get("/history?status=sideways").status_code == 400


def test_the_metrics_page_draws_the_dora_figures(client: TestClient) -> None:
    html = client.get("/metrics").text
    assert "Deployment frequency" in html and "Change failure rate" in html
    assert html.count("<svg") >= 2


def test_anonymous_none_shows_only_the_sign_in_page(seeded: Seeded) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    set_anonymous(pipeline_file, "none")
    with TestClient(create_app(seeded.root, secret_key=KEY)) as client:
        for path in ("/", f"/releases/{seeded.new}", "/history", "/metrics"):
            page = client.get(path, follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/signin")
        assert client.get("/fragments/pipeline").status_code == 401
        assert client.get("/events").status_code == 401
        assert client.get("/signin").status_code == 200
        sign_in(client, seeded.tokens[CHEN])
        assert client.get("/history").status_code == 200


def test_a_bad_dashboard_setting_is_a_config_error_with_its_line(seeded: Seeded) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    set_anonymous(pipeline_file, "maybe")
    with pytest.raises(ConfigError) as error:
        create_app(seeded.root, secret_key=KEY)
    [issue] = error.value.issues
    assert issue.key == "dashboard.anonymous" and issue.line is not None


def test_the_cookie_key_is_made_once_with_mode_0600(seeded: Seeded) -> None:
    create_app(seeded.root)
    key = seeded.root / ".stageline" / "keys" / "dashboard.key"
    first = key.read_text()
    assert key.stat().st_mode & 0o777 == 0o600
    create_app(seeded.root)
    assert key.read_text() == first


# -- `stageline serve` as a real process -------------------------------------------------------


def _serve(root: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "stageline", "serve", "-C", str(root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY": LEAKED},
    )  # fmt: skip
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("serving http://127.0.0.1:"):
        process.kill()
        raise AssertionError(f"{line!r}: {process.communicate()[1][-2000:]}")
    return process, line.removeprefix("serving ")


def test_serve_announces_its_url_streams_changes_and_stops_cleanly_on_sigterm(
    seeded: Seeded,
) -> None:
    process, url = _serve(seeded.root)
    try:
        assert httpx.get(url + "/", timeout=10).status_code == 200
        with httpx.stream("GET", url + "/events", timeout=10) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            with Session.open(seeded.root) as session:
                session.store.add_verdict("staging", seeded.new, person=BEN, kind="approve")
                session.store.append_event("approve.given", actor=BEN, environment="staging")
            deadline = time.monotonic() + 10
            seen = ""
            while "event: changed" not in seen and time.monotonic() < deadline:
                seen += next(lines) + "\n"
            assert "event: changed" in seen
            process.send_signal(signal.SIGTERM)  # with the stream still open
            assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_refuses_a_busy_port_with_a_one_line_error(seeded: Seeded) -> None:
    process, url = _serve(seeded.root)
    try:
        port = url.rsplit(":", 1)[1]
        done = subprocess.run(
            [sys.executable, "-m", "stageline", "serve", "-C", str(seeded.root), "--port", port],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 3 and f"port {port} on 127.0.0.1 is already in use" in done.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_a_pipeline_file_broken_while_serving_is_reported_not_a_traceback(
    client: TestClient, seeded: Seeded
) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    pipeline_file.write_text(pipeline_file.read_text() + "\n[nonsense]\n")
    page = client.get("/")
    assert page.status_code == 500 and "unknown key 'nonsense'" in page.text
    api = client.get("/api/pipeline")
    assert api.status_code == 500 and "nonsense" in api.json()["error"]


def test_a_break_glass_entry_is_shown_as_such_on_every_page(
    client: TestClient, seeded: Seeded
) -> None:
    with Session.open(seeded.root) as session:
        forced = session.store.start_deployment(
            "production", seeded.new, actor="olga@shop.example", kind="force"
        )
        session.store.finish_deployment(forced.id, "succeeded")
    history = client.get("/history?environment=production").text
    assert history.count('data-testid="break-glass"') == 1
    assert re.search(r'data-testid="break-glass"[^>]*>break-glass</span>', history)
    release = client.get(f"/releases/{seeded.new}").text
    assert release.count('data-testid="break-glass"') == 1
    stage = client.get("/").text
    production = stage[stage.index('data-testid="stage-production"') :]
    assert 'data-testid="break-glass"' in production.split("</dl>")[0]
    old = client.get(f"/releases/{seeded.old}").text
    assert 'data-testid="break-glass"' not in old  # an ordinary deploy is not marked
