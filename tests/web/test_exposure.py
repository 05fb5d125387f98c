"""Release evidence for signed-in people only, unless anonymous reading is set explicitly,
and never anonymously on an address other than loopback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from stageline.errors import Refused
from stageline.web import create_app
from stageline.web.exposure import check_exposure, is_loopback
from tests.web.seed import ANONYMOUS_READ, KEY, Seeded, set_anonymous


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("::1", True),
     ("[::1]", True), ("0.0.0.0", False), ("::", False), ("10.1.2.3", False),
     ("shop.example", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_anonymous_reading_beyond_loopback_is_refused() -> None:
    check_exposure("127.0.0.1", "read")
    check_exposure("0.0.0.0", "none")
    with pytest.raises(Refused) as caught:
        check_exposure("0.0.0.0", "read")
    assert "0.0.0.0" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.hint is not None and 'anonymous = "none"' in caught.value.hint


def test_by_default_nobody_reads_without_signing_in(seeded: Seeded) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    pipeline_file.write_text(pipeline_file.read_text().replace(ANONYMOUS_READ, ""))
    with TestClient(create_app(seeded.root, secret_key=KEY)) as client:
        page = client.get(f"/releases/{seeded.new}", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/signin")
        assert client.get("/api/history").status_code == 401
        token = {"Authorization": f"Bearer {seeded.tokens['chen@shop.example']}"}
        assert client.get("/api/history", headers=token).status_code == 200


def test_a_public_dashboard_ignores_a_later_anonymous_read(seeded: Seeded) -> None:
    pipeline_file = seeded.root / "stageline.toml"
    set_anonymous(pipeline_file, "none")
    app = create_app(seeded.root, secret_key=KEY, host="0.0.0.0")
    # edited while it serves: still sign-in only
    pipeline_file.write_text(pipeline_file.read_text().replace('"none"', '"read"'))
    with TestClient(app) as client:
        assert client.get("/api/pipeline").status_code == 401
    with pytest.raises(Refused):
        create_app(seeded.root, secret_key=KEY, host="0.0.0.0")


def test_serve_on_every_address_with_anonymous_read_refuses_to_start(seeded: Seeded) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stageline", "serve", "-C", str(seeded.root),
         "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "serving" not in done.stdout
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("error: refusing to serve 0.0.0.0"), done.stderr
