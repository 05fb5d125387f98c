"""Review environments end to end, on the shop example (``docs/review.md``).

Development runs v1.6.0 with an order placed in it, and a masked snapshot of it is kept
on test's server. Two branches are opened for review: ``feature-a`` (v1.7.0-rc1's code,
whose migration adds ``orders.notes``) and ``feature-b`` (v1.6.0's, opened ``--untrusted``
as code from a fork). Each serves its own data from its own database, cloned from the
snapshot in the one shared review server, through its own port and its host name on the
shared router. Only the ``review`` secret reaches feature-a, nothing reaches feature-b,
and production's and staging's values are nowhere in either's processes or files. A new
commit on feature-a is switched in blue/green under constant load with no failed
request; closing it leaves nothing; ``review gc`` closes feature-b once expired, and the
router and the shared server stop with it.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from stageline.cli import main
from stageline.data import snapshot
from stageline.decisions.review import ReviewRecord
from stageline.host.procfs import descendants, is_alive
from stageline.services.postgres import free_port
from stageline.targets import review_router, review_server
from stageline.targets.local import port_is_free
from stageline.usecases import review, review_list
from stageline.usecases.deploy import deploy
from stageline.usecases.pipeline import Session
from stageline.usecases.secrets import set_secret
from tests.e2e.helpers import commit_and_tag

pytestmark = pytest.mark.slow
PRODUCTION_KEY = "sk_live_prod_7d1e5a90"
STAGING_KEY = "stg-signing-51be08c3"
REVIEW_KEY = "rv-maps-test-2f9d41"
REVIEW_PAYMENT_KEY = "sk_test_review_88c2d1"
DATA = """
[data]
keep = 1
[data.patterns]
"*email*" = "email"
[data.table_defaults]
products = "keep"
orders = "keep"
order_lines = "keep"
alembic_version = "keep"
"""


def _free_range(size: int) -> tuple[int, int]:
    first = free_port()
    while not all(port_is_free(p) for p in range(first, first + size)):
        first = free_port()
    return first, first + size - 1


def _configure(repo: Path) -> int:
    first, last = _free_range(4)
    router = free_port()
    while first <= router <= last:
        router = free_port()
    with (repo / "stageline.toml").open("a") as fh:
        fh.write(DATA)
        fh.write(
            f"\n[review]\nports = [{first}, {last}]\nrouter_port = {router}\n"
            'secrets = ["REVIEW_KEY", "PAYMENT_API_KEY"]\n'
            'vars = { STAGELINE_ALLOW_EMAIL = "1" }\n'
        )
    return router


def _branch(repo: Path, name: str, start: str, note: str) -> None:
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", name, start], check=True)
    commit_and_tag(repo, f"{name}-1", {"README.md": ("#", f"# {note}\n#")})
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)


def _environ_of(session: Session, rec: ReviewRecord) -> tuple[set[int], bytes]:
    """Every process of ``rec``'s service (launchers and what they run), and all their
    environments, concatenated."""
    view = next(v for v in review_list.list_reviews(session) if v.record.name == rec.name)
    assert view.state == "running" and view.memory_bytes > 0
    status = session.target(review_list.bare(session.pipeline(), rec), "shop").status()
    assert status is not None
    roots = {p.pid for p in status.processes if p.pid}
    pids = set().union(*(descendants(pid) for pid in roots))
    return pids, b"\n".join(Path(f"/proc/{pid}/environ").read_bytes() for pid in pids)


def _files_hold(folder: Path, value: str) -> list[str]:
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink() and value.encode() in path.read_bytes()
    ]


class Load:
    """Constant light load on one host name through the router; counts failures."""

    def __init__(self, url: str, host: str) -> None:
        self.url, self.host = url, host
        self.sent = self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=10) as http:
            while not self.stop.wait(0.02):
                self.sent += 1
                try:
                    ok = http.get(self.url, headers={"Host": self.host}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.failed += 0 if ok else 1

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


@pytest.fixture
def reviewed(shop: Path) -> Iterator[Path]:
    """The shop copy; every review still open is closed afterwards (the shop fixture then
    stops the pipeline's environments)."""
    try:
        yield shop
    finally:
        with Session.open(shop) as session:
            for rec in review_list.load_all(session.workspace.home):
                review.close_review(session, rec.name)
            review_router.stop_router(session.workspace.home)


def test_review_environments_from_open_to_gc(
    reviewed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = reviewed
    router = _configure(repo)
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "review template"], check=True)
    _branch(repo, "feature-a", "v1.7.0-rc1", "feature a")
    _branch(repo, "feature-b", "v1.6.0", "feature b")
    with Session.open(repo) as session:
        home = session.workspace.home
        for scope, name, value in (
            ("production", "PAYMENT_API_KEY", PRODUCTION_KEY),
            ("staging", "PAYMENT_API_KEY", STAGING_KEY),
            ("review", "REVIEW_KEY", REVIEW_KEY),
            ("review", "PAYMENT_API_KEY", REVIEW_PAYMENT_KEY),
        ):
            set_secret(session, scope, name, value=value)
        # development's data, with one order, snapshotted (masked) onto test's server
        dev = deploy(session, "development", "v1.6.0")
        dev_url = f"http://127.0.0.1:{dev.plan.pipe.environment('development').target.port}"
        placed = _order(dev_url, "ana@example.com")
        assert placed.status_code == 201, placed.text
        snapshot.take(session, "development", into="test")
    capsys.readouterr()
    with pytest.raises(SystemExit) as ended:  # the CLI in this process: no start-up cost
        main(["review", "open", "feature-a", "--json", "-C", str(repo)])
    opened = capsys.readouterr()
    assert ended.value.code in (0, None), opened.err
    a_json = json.loads(opened.out)
    assert a_json["name"] == "review/feature-a" and a_json["branch"] == "feature-a"
    assert a_json["state"] == "running" and a_json["host_url"].endswith(f":{router}")
    with Session.open(repo) as session:
        b = review.open_review(session, "feature-b", untrusted=True).record
        a = review_list.find(session.workspace.home, "feature-a")
        assert a.snapshot is not None and a.snapshot == b.snapshot  # cloned from it
        # each serves its own data, cloned from the snapshot: development's order is in
        # both (masked), an order placed in one is not in the other
        for rec in (a, b):
            got = httpx.get(f"{rec.url}/orders/{placed.json()['id']}", trust_env=False)
            assert got.status_code == 200 and got.json()["customer_email"] != "ana@example.com"
        via_host = _order(f"http://127.0.0.1:{router}", "x@example.com", f"feature-a.{_suffix()}")
        assert via_host.status_code == 201, via_host.text
        own = via_host.json()["id"]
        assert httpx.get(f"{a.url}/orders/{own}", trust_env=False).status_code == 200
        assert httpx.get(f"{b.url}/orders/{own}", trust_env=False).status_code == 404
        capsys.readouterr()
        with pytest.raises(SystemExit):
            main(["status", "-C", str(repo)])
        assert "2 review environments open: `stageline review list`" in capsys.readouterr().out
        # feature-a's migration ran on its own database only
        shared = review_server.running_server(home)
        assert shared is not None
        assert _columns(shared.url("review_feature_a")) > _columns(shared.url("review_feature_b"))
        # secrets: the review scope's only, and none at all for untrusted code
        a_pids, a_env = _environ_of(session, a)
        _, b_env = _environ_of(session, b)
        assert REVIEW_KEY.encode() in a_env and b"STAGELINE_ALLOW_EMAIL=1" in a_env
        assert f"PAYMENT_API_KEY={REVIEW_PAYMENT_KEY}".encode() in a_env
        assert REVIEW_KEY.encode() not in b_env and REVIEW_PAYMENT_KEY.encode() not in b_env
        assert b"STAGELINE_ALLOW_" not in b_env
        for value in (PRODUCTION_KEY, STAGING_KEY):
            assert value.encode() not in a_env + b_env
            for rec in (a, b):
                assert _files_hold(home / "envs" / rec.name, value) == []

    # a new commit on feature-a: switched in blue/green under constant load
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "feature-a"], check=True)
    commit_and_tag(repo, "feature-a-2", {"README.md": ("#", "# again\n#")})
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "main"], check=True)
    with Session.open(repo) as session:
        with Load(f"http://127.0.0.1:{router}/healthz", f"feature-a.{_suffix()}") as load:
            updated = review.open_review(session, "feature-a")
        assert updated.updated and updated.record.commit != a.commit
        assert load.sent > 20 and load.failed == 0, (load.sent, load.failed)
        assert httpx.get(f"{a.url}/orders/{own}", trust_env=False).status_code == 200

        # closing feature-a leaves nothing: processes, database, role, files, port, route
        review.close_review(session, "review/feature-a")
        assert not any(is_alive(pid) for pid in a_pids)
        assert review_server.leftovers(home, "review_feature_a") == (False, False)
        assert not (home / "envs" / "review" / "feature-a").exists()
        assert not list((home / "agent").glob("front-review--feature-a*"))
        assert port_is_free(a.port)
        routes = json.loads(review_router.routes_path(home).read_text())
        assert routes == {f"feature-b.{_suffix()}": b.port}
        gone = httpx.get(
            f"http://127.0.0.1:{router}/healthz", headers={"Host": f"feature-a.{_suffix()}"},
            trust_env=False,
        )  # fmt: skip
        assert gone.status_code == 503

        # gc: nothing is due now; three days on, feature-b is past its TTL
        assert review.gc(session) == []
        closed = review.gc(session, now=datetime.now(UTC) + timedelta(hours=73))
        assert [c.name for c in closed] == ["review/feature-b"]
        assert review_list.load_all(home) == [] and review_router.router_pid(home) is None
        assert review_server.running_server(home) is None and port_is_free(router)


def _order(url: str, email: str, host: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}/orders",
        headers={"Host": host} if host else {},
        json={"customer_email": email, "lines": [{"sku": "MUG-CLASSIC", "quantity": 1}]},
        timeout=10,
        trust_env=False,
    )


def _suffix() -> str:
    return "review.localhost"


def _columns(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchone()
    assert row is not None
    return int(row[0])
