"""Notes are data with a size: capped where they come in, escaped where they are shown.

The red team stored a 20 MB approval note and every page rendered it. Here a note over
:data:`~stageline.limits.NOTE_LIMIT` is refused with the cap named, by the CLI, the
dashboard's form and the API, and a body over
:data:`~stageline.limits.REQUEST_BODY_LIMIT` is refused before any handler reads it
(announced or streamed); nothing is stored either way. A note holding a script is shown
as text on the release page.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from stageline.cli import main
from stageline.limits import NOTE_LIMIT, REQUEST_BODY_LIMIT
from tests.web.seed import BEN, CHEN, Seeded
from tests.web.test_app import sign_in, verdicts

URL = "/environments/staging/verdicts"
HUGE = "x" * (20 * 1024 * 1024)  # the red team's note
OVER = "y" * (NOTE_LIMIT + 1)  # one character too many, well inside the body cap


def test_a_note_over_the_cap_is_refused_by_the_cli_naming_it(seeded: Seeded) -> None:
    env = {**os.environ, "STAGELINE_USER": BEN}
    for args in (["approve", "staging", "--note", OVER], ["reject", "staging", "--reason", OVER]):
        result = subprocess.run(
            [sys.executable, "-m", "stageline", *args, "-C", str(seeded.root)],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 2, result.stderr
        assert f"the cap is {NOTE_LIMIT:,} characters" in result.stderr
        assert len(result.stderr.splitlines()) == 2  # the error line and its hint
    assert verdicts(seeded.root) == []


def test_a_20_mb_note_is_refused_by_the_cli(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In process: no operating system passes a 20 MB argument to a new process."""
    monkeypatch.setenv("STAGELINE_USER", BEN)
    with pytest.raises(SystemExit) as exited:
        main(["approve", "staging", "--note", HUGE, "-C", str(seeded.root)])
    assert exited.value.code == 2
    assert f"the cap is {NOTE_LIMIT:,} characters" in capsys.readouterr().err
    assert verdicts(seeded.root) == []


def test_the_form_and_the_api_refuse_a_note_over_the_cap(
    client: TestClient, seeded: Seeded
) -> None:
    csrf = sign_in(client, seeded.tokens[BEN])
    form = client.post(
        URL, data={"kind": "approve", "note": OVER, "csrf_token": csrf, "digest": seeded.new}
    )
    assert form.status_code == 400
    assert f"the cap is {NOTE_LIMIT:,} characters" in form.text
    api = client.post(
        "/api/environments/staging/verdicts",
        json={"kind": "reject", "note": OVER},
        headers={"Authorization": f"Bearer {seeded.tokens[CHEN]}"},
    )
    assert api.status_code == 400
    assert f"the cap is {NOTE_LIMIT:,} characters" in api.json()["error"]
    assert verdicts(seeded.root) == []


def test_a_20_mb_body_is_refused_before_it_is_read(client: TestClient, seeded: Seeded) -> None:
    csrf = sign_in(client, seeded.tokens[BEN])
    announced = client.post(URL, data={"kind": "approve", "note": HUGE, "csrf_token": csrf})
    assert announced.status_code == 413
    assert f"{REQUEST_BODY_LIMIT:,}-byte cap" in announced.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield f"kind=approve&csrf_token={csrf}&note=".encode()
        for _ in range(20):
            yield b"x" * (1024 * 1024)

    streamed = client.post(
        URL, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert streamed.status_code == 413
    api = client.post(
        "/api/environments/staging/verdicts",
        json={"kind": "approve", "note": HUGE},
        headers={"Authorization": f"Bearer {seeded.tokens[CHEN]}"},
    )
    assert api.status_code == 413 and "byte cap" in api.json()["error"]
    assert verdicts(seeded.root) == []


def test_a_note_with_a_script_is_shown_as_text(client: TestClient, seeded: Seeded) -> None:
    script = "<script>alert('note')</script>"
    csrf = sign_in(client, seeded.tokens[BEN])
    given = client.post(
        URL,
        data={"kind": "reject", "note": script, "csrf_token": csrf, "digest": seeded.new},
        follow_redirects=False,
    )
    assert given.status_code == 303, given.text
    for page in (f"/releases/{seeded.new[7:19]}", "/"):
        html = client.get(page).text
        assert script not in html
    assert (
        "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;"
        in client.get(f"/releases/{seeded.new[7:19]}").text
    )
