"""Fixtures for the dashboard's browser tests: real workspaces, `stageline serve`, chromium.

``held_release``: a copy of the example shop where production runs v1.6.0 and staging runs
v1.7.0-rc1 with every gate really run and passed, but none of the two QA approvals given:
the release is held. ``recorded_release``: a bare copy where staging's v1.6.0 is only
recorded in the store (nothing built, no process runs): enough for tests of refused
sign-offs, since a correct sign-off stores a verdict there all the same. Both serve the
dashboard with a real ``stageline serve`` subprocess on a free port. ``browser``: Debian's
chromium, headless, driven by Playwright (never downloaded: ``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright
from starlette.testclient import TestClient

from stageline import redact
from stageline.state import ArtifactRecord, VerdictRecord
from stageline.usecases import pipeline, tokens
from stageline.usecases.demo import TAGS, prepare_demo_repo
from stageline.usecases.pipeline import Session, find_artifact
from stageline.web import create_app
from tests.e2e.helpers import (
    PAYMENT_KEY,
    QA,
    cli,
    own_tmp,
    use_free_ports,
    workspace_copy,
)
from tests.web.seed import KEY, LEAKED, Seeded, read_anonymously, seed

OLD, NEW = TAGS
ANA, BEN, CHEN = QA
BUILDER, OPS, LEAD = "ci@shop.example", "ops@shop.example", "lead@shop.example"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
SERVE_START_TIMEOUT = 60.0


@dataclass
class Served:
    """A workspace with `stageline serve` running on it."""

    repo: Path
    url: str
    #: the digest running in staging (the one a sign-off is about)
    digest: str
    #: person -> that person's personal token
    tokens: dict[str, str]
    process: subprocess.Popen[str] = field(repr=False)
    output: list[str] = field(default_factory=list, repr=False)

    def verdicts(self) -> list[VerdictRecord]:
        """Every verdict stored for staging's digest, read from the store itself."""
        with Session.open(self.repo) as session:
            return session.store.verdicts("staging", self.digest)


def _cli_ok(repo: Path, *args: str, user: str | None = None) -> str:
    done = cli(repo, *args, user=user)
    assert done.returncode == 0, f"stageline {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _token_from(output: str) -> str:
    found = [word for word in output.split() if word.startswith(tokens.PREFIX)]
    assert len(found) == 1, output
    return found[0]


def start_serve(repo: Path, log: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start `stageline serve` on a free port (``--port 0``: the server binds one itself,
    so no other process can take it in between); return it once it printed its URL line."""
    read_anonymously(repo / "stageline.toml")  # the pages are read before signing in
    env = {**os.environ, "STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY": PAYMENT_KEY}
    env.pop("STAGELINE_USER", None)
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "stageline", "serve", "-C", str(repo), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            start_new_session=True,
        )
    assert process.stdout is not None
    deadline = time.monotonic() + SERVE_START_TIMEOUT
    first = ""
    while not first and time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            first = process.stdout.readline().strip()
    if not first.startswith("serving http://"):
        stop_serve(process, expect_clean=False)
        raise AssertionError(
            f"`stageline serve` printed {first!r} instead of its URL line;"
            f" stderr:\n{log.read_text()[-3000:]}"
        )
    output: list[str] = [first]
    # keep draining stdout so the server never blocks on a full pipe
    drain = threading.Thread(target=output.extend, args=(process.stdout,), daemon=True)
    drain.start()
    url = first.removeprefix("serving ").strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:[1-9][0-9]*", url), first
    return process, url, output


def stop_serve(process: subprocess.Popen[str], *, expect_clean: bool = True) -> int:
    """SIGTERM the server (the contract: it exits 0); kill it if it does not stop."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
            if expect_clean:
                raise AssertionError("`stageline serve` did not stop on SIGTERM") from None
    return process.returncode


@contextlib.contextmanager
def _served(repo: Path, digest: str, people: dict[str, str]) -> Iterator[Served]:
    process, url, output = start_serve(repo, repo.parent / "serve.log")
    served = Served(repo, url, digest, people, process, output)
    try:
        yield served
    finally:
        code = stop_serve(process)
        assert code == 0, f"`stageline serve` exited {code} on SIGTERM"


@pytest.fixture(scope="session")
def web_template() -> Iterator[Path]:
    """The example shop with both tags built, by a named builder: the screenshots in docs/
    show who built, deployed and promoted, never this machine's git identity."""
    folder = own_tmp("stageline-web-template-")
    saved = os.environ.get("STAGELINE_USER")
    os.environ["STAGELINE_USER"] = BUILDER
    try:
        repo = prepare_demo_repo(folder / "shop")
        with Session.open(repo) as session:
            for tag in TAGS:
                pipeline.build(session, tag)
    finally:
        if saved is None:
            os.environ.pop("STAGELINE_USER", None)
        else:
            os.environ["STAGELINE_USER"] = saved
    yield repo
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def held_release(web_template: Path) -> Iterator[Served]:
    """Production on v1.6.0; staging on v1.7.0-rc1 (shipped by ana), every gate run and
    passed, no approval yet: held with "0 of 2 approvals". Real processes throughout."""
    with workspace_copy(web_template, "stageline-web-held-") as repo:
        _cli_ok(repo, "deploy", "production", OLD, "--force", user=OPS)
        _cli_ok(repo, "ship", NEW, user=ANA)
        _cli_ok(repo, "verify", "staging", user=BUILDER)
        people = {
            person: _token_from(_cli_ok(repo, "tokens", "create", "browser", user=person))
            for person in (BEN, CHEN)
        }
        with Session.open(repo) as session:
            digest = find_artifact(session, NEW).digest
            current = session.store.current_deployment("staging")
            assert current is not None and current.digest == digest
        with _served(repo, digest, people) as served:
            yield served


@pytest.fixture(scope="module")
def recorded_release() -> Iterator[Served]:
    """Staging's v1.6.0 recorded in the store as deployed by ana; nothing is built or runs
    (the artifact's record only: sign-off reads the store, never the artifact's files).
    A valid sign-off by ben stores a verdict here, so a refused one storing none counts."""
    folder = own_tmp("stageline-web-refuse-")
    try:
        repo = prepare_demo_repo(folder / "shop")
        use_free_ports(repo / "stageline.toml")
        now = datetime.now(UTC)
        record = ArtifactRecord(
            digest="sha256:" + hashlib.sha256(b"recorded v1.6.0").hexdigest(),
            service="shop",
            version="1.6.0",
            tag=OLD,
            ref=OLD,
            commit="0" * 40,
            commit_time=now,
            built_at=now,
            built_by=BUILDER,
            host="test",
            size_bytes=0,
            path=str(folder / "nowhere"),
        )
        with Session.open(repo) as session:
            session.store.add_artifact(record)
            started = session.store.start_deployment(
                "staging", record.digest, actor=ANA, kind="deploy"
            )
            session.store.finish_deployment(started.id, "succeeded")
            people = {
                person: tokens.create_token(session.store, "browser", person)[0]
                for person in (ANA, BEN)
            }
        with _served(repo, record.digest, people) as served:
            yield served
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.is_file(), "Debian's chromium is missing: `apt-get install chromium`"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[Served], Page]]:
    """Open a page in a fresh browser context (no cookies) on a served dashboard."""
    contexts: list[BrowserContext] = []

    def open_(served: Served) -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=served.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    """A workspace whose store holds constructed records (tests/web/seed.py), with
    production's payment key set, so tests can look for it where it must not be."""
    monkeypatch.setenv("STAGELINE_SECRET_PRODUCTION_PAYMENT_API_KEY", LEAKED)
    yield seed(tmp_path)
    redact.forget_all()


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded.root, secret_key=KEY)) as test_client:
        yield test_client
