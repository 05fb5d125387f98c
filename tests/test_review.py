"""Review environments' pure decisions (``stageline.decisions.review``) and ``[review]``."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.agent.router import host_of
from stageline.artifacts import source
from stageline.config.loader import load_pipeline
from stageline.config.model import Review, is_review, secret_scope
from stageline.decisions import review as decide
from stageline.decisions.access import AccessRefused
from stageline.decisions.review import GcFacts, ReviewRecord, Where
from stageline.errors import ConfigError, UsageError
from stageline.usecases import review
from stageline.usecases.pipeline import Session
from stageline.usecases.review_list import ReviewView
from stageline.web.app import templates

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
PIPELINE = """
[service]
name = "shop"
start = "uvicorn shop.app:app --port {port}"

[defaults]
vars = { LOG_LEVEL = "info" }
[defaults.services.postgres]
version = 16

[environments.staging]
tier = "staging"
target = { port = 8603 }
secrets = ["PAYMENT_API_KEY"]
[environments.production]
tier = "production"
target = { port = 8604 }
secrets = ["PAYMENT_API_KEY"]
"""
REVIEW = """
[review]
secrets = ["REVIEW_KEY"]
vars = { STAGELINE_ALLOW_EMAIL = "1", FEATURE = "on" }
"""


def record(label: str = "feature-x", **changes: object) -> ReviewRecord:
    base = ReviewRecord(
        slug=label, branch=label, commit="c" * 40, digest="sha256:" + "a" * 64, port=9100,
        url="http://127.0.0.1:9100", host_url=f"http://{label}.review.localhost:8099",
        untrusted=False, opened_at=NOW, updated_at=NOW, database=decide.database_of(label),
    )  # fmt: skip
    return ReviewRecord(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("branch", "expected"),
    [
        ("feature-x", "feature-x"),
        ("Feature/Add_Login", "feature-add-login"),
        ("dependabot/pip/httpx-0.28.1", "dependabot-pip-httpx-0-28-1"),
        ("--weird--", "weird"),
    ],
)
def test_slugs_are_host_name_labels(branch: str, expected: str) -> None:
    assert decide.slug(branch) == expected
    assert decide.name_of(expected) == f"review/{expected}" and is_review(f"review/{expected}")


def test_long_branches_keep_distinct_slugs_and_nothing_left_is_refused() -> None:
    one, two = decide.slug("x" * 60 + "-one"), decide.slug("x" * 60 + "-two")
    assert one != two and len(one) <= decide.SLUG_MAX and len(two) <= decide.SLUG_MAX
    with pytest.raises(UsageError, match="gives no name") as refused:
        decide.slug("///")
    assert refused.value.hint is not None and "--name" in refused.value.hint
    assert decide.database_of("feature-x") == "review_feature_x"


def test_ports_skip_the_taken_the_busy_and_run_out() -> None:
    review = Review(ports=[9100, 9103], router_port=8099)
    assert decide.pick_port(review, set(), lambda _p: True) == 9100
    assert decide.pick_port(review, {9100}, lambda p: p != 9101) == 9102
    assert decide.pick_port(review, {9100, 9101, 9102, 9103}, lambda _p: True) is None


def test_caps_refuse_naming_the_oldest_to_close() -> None:
    review = Review(max_open=2, max_disk_mb=100)
    older = record("old", updated_at=NOW - timedelta(days=2))
    newer = record("new")
    assert decide.refusal(review, [older], 10) is None
    full = decide.refusal(review, [newer, older], 10)
    assert full is not None and "max_open = 2" in full
    assert "the oldest is review/old (`stageline review close review/old`)" in full
    disk = decide.refusal(review, [newer], 150)
    assert disk is not None and "max_disk_mb = 100" in disk and "review/new" in disk


def test_gc_closes_past_ttl_idle_or_branch_gone_and_keeps_the_rest() -> None:
    review = Review(ttl_hours=72, idle_close_hours=24)
    fresh = record()
    assert decide.expired(review, GcFacts(fresh, NOW + timedelta(hours=1))) is None
    old = decide.expired(review, GcFacts(fresh, NOW + timedelta(hours=72)))
    assert old is not None and "ttl_hours = 72" in old
    gone = decide.expired(review, GcFacts(fresh, NOW, branch_exists=False))
    assert gone == "branch feature-x no longer exists"
    assert decide.expired(review, GcFacts(fresh, NOW, branch_exists=None)) is None
    idle = GcFacts(fresh, NOW + timedelta(hours=30), last_request=NOW + timedelta(hours=1))
    assert "idle_close_hours = 24" in (decide.expired(review, idle) or "")
    busy = GcFacts(fresh, NOW + timedelta(hours=30), last_request=NOW + timedelta(hours=20))
    assert decide.expired(review, busy) is None
    assert decide.expired(Review(), GcFacts(fresh, NOW + timedelta(hours=71))) is None


def test_the_environment_of_a_review_comes_from_the_template(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE + REVIEW)
    pipe = load_pipeline(tmp_path)
    url = "postgresql://review_feature_x:pw@127.0.0.1:5555/review_feature_x"
    env = decide.environment(pipe, record(), Where(9100, url), scale_to_zero=False)
    assert env.name == "review/feature-x" and env.tier.value == "testing"
    assert env.url == "http://127.0.0.1:9100" and env.target.port == 9100
    assert env.secrets == ["REVIEW_KEY"] and secret_scope(env.name) == "review"
    assert env.vars == {"LOG_LEVEL": "info", "STAGELINE_ALLOW_EMAIL": "1", "FEATURE": "on"}
    assert env.postgres is not None and env.postgres.url == url
    untrusted = decide.environment(
        pipe, record(untrusted=True), Where(9100, url), scale_to_zero=False
    )
    assert untrusted.secrets == [] and "STAGELINE_ALLOW_EMAIL" not in untrusted.vars
    assert untrusted.vars["FEATURE"] == "on"


def test_the_review_table_is_checked(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    assert load_pipeline(tmp_path).review is None
    with pytest.raises(ValidationError, match="inside ports"):
        Review(ports=[9000, 9100], router_port=9050)
    with pytest.raises(ValidationError, match="production"):
        Review(tier="prod")
    bad = PIPELINE + "[environments.review]\ntier = 'test'\ntarget = { port = 8700 }\n" + REVIEW
    (tmp_path / "stageline.toml").write_text(bad)
    with pytest.raises(ConfigError, match="secrets scope"):
        load_pipeline(tmp_path)


def test_the_router_reads_the_host_without_its_port() -> None:
    assert host_of([(b"Host", b"Feature-X.review.localhost:8099")]) == "feature-x.review.localhost"
    assert host_of([(b"accept", b"*/*")]) == ""


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def test_a_commit_build_source_names_its_branch_and_no_tag(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "f").write_text("1")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-qm", "one")
    _git(tmp_path, "tag", "v1.0.0")
    _git(tmp_path, "branch", "feature-x")
    head = _git(tmp_path, "rev-parse", "HEAD")
    branch = source.resolve_commit(tmp_path, "feature-x")
    assert (branch.tag, branch.branch, branch.commit) == (None, "feature-x", head)
    assert source.resolve(tmp_path, "feature-x").tag == "v1.0.0"  # a plain build takes it
    assert source.resolve_commit(tmp_path, head).branch == head  # a bare commit: itself
    assert source.branch_exists(tmp_path, "feature-x") is True
    _git(tmp_path, "branch", "-D", "feature-x")
    assert source.branch_exists(tmp_path, "feature-x") is False
    assert source.branch_exists(tmp_path / "nowhere", "main") is None


def test_opening_a_review_without_the_template_says_how_to_set_it_up(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(PIPELINE)
    with Session.open(tmp_path) as session, pytest.raises(UsageError, match=r"no \[review\]"):
        review.open_review(session, "main")


def test_the_dashboard_lists_review_environments() -> None:
    rec = record()
    view = {
        "build": None, "environments": [], "signoff": {"state": "none", "source": None},
        "reviews": [ReviewView(rec, "running", None, 0, 60.0).to_json()],
    }  # fmt: skip
    html = templates().get_template("_pipeline.html").render(view=view)
    assert 'data-testid="review-review/feature-x"' in html and 'data-state="running"' in html
    for shown in ("feature-x", rec.commit[:12], rec.url, rec.host_url, "stageline review list"):
        assert shown in html


def test_opening_or_closing_a_review_needs_the_first_environments_deploy_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review runs code that entered no environment yet: whoever may not deploy to the
    pipeline's first environment may not open one either (refused before any build) nor
    close one, and the refusal is audited."""
    rule = '[environments.staging.access]\ndeploy = ["ann@shop.example"]\n'
    (tmp_path / "stageline.toml").write_text(PIPELINE + rule + REVIEW)
    monkeypatch.setenv("STAGELINE_USER", "zoe@shop.example")
    with Session.open(tmp_path) as session:
        with pytest.raises(AccessRefused, match=r"staging\.access\.deploy"):
            review.open_review(session, "main")
        with pytest.raises(AccessRefused, match=r"staging\.access\.deploy"):
            review.close_review(session, "review/feature-x")
        refused = [e for e in session.store.events() if e.kind == "access.refused"]
    assert len(refused) == 2
    assert not (tmp_path / ".stageline" / "artifacts").exists()
