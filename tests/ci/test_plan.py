"""What a CI file needs of a pipeline, decided from the pipeline file alone."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from stageline.ci.plan import github_filters, plan, promotions, tag_regex
from stageline.config import load_pipeline
from stageline.errors import UsageError

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"


def pipeline_file(folder: Path, environments: str, service: str = "") -> Path:
    (folder / "stageline.toml").write_text(
        '[service]\nname = "svc"\nstart = "serve {port}"\n' + service + environments,
        encoding="utf-8",
    )
    return folder


def env(name: str, tier: str, port: int, promotion: str, accept: str = '["v*"]') -> str:
    return (
        f'[environments.{name}]\ntier = "{tier}"\nurl = "http://127.0.0.1:{port}"\n'
        f'target = {{ kind = "local", port = {port} }}\npromotion = "{promotion}"\n'
        f"accept = {accept}\n"
    )


def test_the_shop_ships_every_v_tag_to_staging_in_one_ship() -> None:
    facts = plan(load_pipeline(SHOP))
    assert (facts.service, facts.staging, facts.tags) == ("shop", "staging", ("v*",))
    assert facts.staging_url == "http://127.0.0.1:8603"
    assert facts.promotions == ()  # development, test and staging are all "auto"
    assert facts.tag_regex == "^v.*$" and facts.github_tags == ("v*",)
    assert (facts.folder, facts.python, facts.home) == (".", None, "/var/lib/stageline/shop")


def test_a_manual_hop_before_staging_is_one_promote_each(tmp_path: Path) -> None:
    text = (
        env("dev", "development", 9001, "auto")
        + env("qa", "testing", 9002, "manual")
        + env("stage", "staging", 9003, "manual", '["release-*"]')
        + env("prod", "production", 9004, "manual")
    )
    pipeline = load_pipeline(pipeline_file(tmp_path, text, 'python = "3.12"\n'))
    assert promotions(pipeline, "stage") == ("dev", "qa")
    facts = plan(pipeline, "services/svc")
    assert facts.staging == "stage" and facts.tags == ("release-*",)
    assert facts.python == "3.12"
    assert facts.at_top("stageline-junit.xml") == "services/svc/stageline-junit.xml"


def test_an_interpreter_path_is_no_python_for_ci(tmp_path: Path) -> None:
    text = env("stage", "staging", 9003, "auto")
    service = 'python = "/opt/python3.12/bin/python3"\n'
    assert plan(load_pipeline(pipeline_file(tmp_path, text, service))).python is None


def test_a_pipeline_without_staging_is_refused(tmp_path: Path) -> None:
    text = env("dev", "development", 9001, "auto") + env("prod", "production", 9004, "manual")
    with pytest.raises(UsageError, match="no environment of the staging tier") as refused:
        plan(load_pipeline(pipeline_file(tmp_path, text)))
    assert refused.value.hint and "tier" in refused.value.hint


GLOBS = [["v*"], ["backend-v*"], ["release/1.?", "v[0-9]*"], ["x[!a]y", "a[b", "1.0+build"]]
TAGS = [
    "v1.7.0", "v", "x1", "backend-v0.9.0", "backend-x", "release/1.2", "release/1.22",
    "release/1x2", "v9", "va", "xby", "xay", "a[b", "1.0+build", "1.00build",
]  # fmt: skip


@pytest.mark.parametrize("globs", GLOBS, ids=str)
def test_the_tag_regex_matches_exactly_what_accept_does(globs: list[str]) -> None:
    pattern = re.compile(tag_regex(globs))
    for tag in TAGS:
        accepted = any(fnmatch.fnmatchcase(tag, glob) for glob in globs)
        assert bool(pattern.search(tag)) == accepted, (tag, globs, pattern.pattern)


def test_github_filters_never_narrow_a_glob() -> None:
    assert github_filters(["v*", "release-1.?", "1.0+b", "!x"]) == (
        "v*", "release-1.*", "1.0\\+b", "\\!x",
    )  # fmt: skip


def test_gitlab_stops_review_environments_after_the_review_ttl(tmp_path: Path) -> None:
    """``auto_stop_in`` follows ``[review] ttl_hours`` (72 without a ``[review]`` table)."""
    (tmp_path / "stageline.toml").write_text(_PIPELINE_FOR_TTL + "\n[review]\nttl_hours = 8\n")
    assert plan(load_pipeline(tmp_path / "stageline.toml"), "").review_hours == 8
    (tmp_path / "stageline.toml").write_text(_PIPELINE_FOR_TTL)
    assert plan(load_pipeline(tmp_path / "stageline.toml"), "").review_hours == 72


_PIPELINE_FOR_TTL = """
[service]
name = "shop"
start = "uvicorn shop.app:app --port {port}"

[environments.staging]
tier = "staging"
target = { port = 8603 }
"""
