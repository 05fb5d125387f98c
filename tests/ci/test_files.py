"""``stageline ci init github|gitlab`` writes files that GitHub's and GitLab's own
schemas, actionlint and gitlab-ci-local accept, for the shop (pipeline file at the
repository's top), the monorepo (``[service] root = "backend"``, tags ``backend-v*``)
and a service in a subfolder of its repository; docs/ci.md shows exactly what it writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stageline.ci.init import init, planned
from stageline.ci.render import FILES, render
from stageline.config.starter import written_for
from stageline.errors import GitError, UnknownName
from tests.ci.docs import DOCS, FIRST, generated, shop_file
from tests.ci.tools import actionlint, check_schema, gitlab_jobs
from tests.examples.repos import released_repo

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "examples" / "shop"
SCHEMAS = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}
TAG_JOBS = ["build", "ship", "verify"]
REVIEW_JOBS = ["review", "review-close"]


def committed(repo: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "service"], check=True)
    return repo


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each shape's repository, its pipeline file found at the returned folder."""
    base = tmp_path_factory.mktemp("ci")
    shop = committed(Path(shutil.copytree(SHOP, base / "shop")))
    nested = base / "platform"
    shutil.copytree(SHOP, nested / "services" / "shop")
    committed(nested)
    monorepo = released_repo("monorepo-fastapi", base / "monorepo")
    (monorepo / "stageline.toml").write_text(written_for(monorepo), encoding="utf-8")
    yield {"shop": shop, "monorepo": monorepo, "nested": nested / "services" / "shop"}


@pytest.mark.parametrize("kind", sorted(FILES))
@pytest.mark.parametrize("shape", ["shop", "monorepo", "nested"])
def test_the_written_file_passes_its_schema_and_linter(
    repos: dict[str, Path], shape: str, kind: str
) -> None:
    written = init(repos[shape], kind, force=True)
    top = repos[shape] if shape != "nested" else repos[shape].parents[1]
    assert written.path == top / FILES[kind]
    checked = check_schema(SCHEMAS[kind], written.path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if kind == "github":
        linted = actionlint(written.path)
        assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_monorepo_ships_its_own_tags_from_its_top(repos: dict[str, Path]) -> None:
    top, facts = planned(repos["monorepo"])
    assert facts.tags == ("backend-v*",) and facts.folder == "."
    gitlab = render("gitlab", facts)
    assert '"$CI_COMMIT_TAG =~ /^backend-v.*$/"' in gitlab
    assert '      - "backend-v*"' in render("github", facts)
    (top / ".gitlab-ci.yml").write_text(gitlab, encoding="utf-8")
    assert gitlab_jobs(top, "CI_COMMIT_TAG=backend-v0.10.0") == TAG_JOBS


def test_a_service_in_a_subfolder_runs_its_jobs_there(repos: dict[str, Path]) -> None:
    _, facts = planned(repos["nested"])
    assert facts.folder == "services/shop"
    github, gitlab = render("github", facts), render("gitlab", facts)
    assert 'working-directory: "services/shop"' in github
    assert 'path: "services/shop/stageline-junit.xml"' in github
    assert "    - cd services/shop || exit 1\n" in gitlab
    assert 'junit: "services/shop/stageline-junit.xml"' in gitlab


def test_gitlab_ci_local_lists_the_tag_and_merge_request_pipelines(
    repos: dict[str, Path],
) -> None:
    init(repos["shop"], "gitlab", force=True)
    assert gitlab_jobs(repos["shop"], "CI_COMMIT_TAG=v1.7.0-rc1") == TAG_JOBS
    merge_request = gitlab_jobs(repos["shop"], "CI_PIPELINE_SOURCE=merge_request_event")
    assert merge_request == REVIEW_JOBS
    assert gitlab_jobs(repos["shop"]) == []  # a plain push to a branch runs nothing


def run_scripts(workflow: str) -> list[str]:
    """Every line of every ``run:`` script of a GitHub workflow."""
    found: list[str] = []
    block: int | None = None  # the indentation of the `run: |` key being read
    for line in workflow.splitlines():
        indent = len(line) - len(line.lstrip())
        if block is not None and (indent > block or not line.strip()):
            found.append(line.strip())
            continue
        block = None
        key, _, value = line.strip().partition("run: ")
        if not key and value:
            block, found = (indent, found) if value == "|" else (None, [*found, value])
    return found


def gitlab_scripts(pipeline: str) -> list[str]:
    """Every line of every ``script:`` and ``before_script:`` list of a ``.gitlab-ci.yml``."""
    found: list[str] = []
    key: int | None = None  # the indentation of the script key being read
    for line in pipeline.splitlines():
        indent, text = len(line) - len(line.lstrip()), line.strip()
        if key is not None and indent > key:
            if text.startswith("- "):
                found.append(text[2:])
            continue
        key = indent if text in ("script:", "before_script:") else None
    return found


@pytest.mark.parametrize("shape", ["shop", "nested"])
def test_every_script_passes_shellcheck(repos: dict[str, Path], shape: str) -> None:
    """What actionlint would run on the scripts, and what a shell runner runs."""
    _, facts = planned(repos[shape])
    scripts = {
        "github": run_scripts(render("github", facts)),
        "gitlab": gitlab_scripts(render("gitlab", facts)),
    }
    for kind, lines in scripts.items():
        assert any(line.startswith("stageline review open") for line in lines), kind
        checked = subprocess.run(
            ["shellcheck", "--shell=bash", "-"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, (kind, checked.stdout)


def test_review_jobs_mark_forks_untrusted_and_show_the_url() -> None:
    github, gitlab = shop_file("github"), shop_file("gitlab")
    assert "pull_request_target" not in github  # never a fork's code with our secrets
    assert 'FROM_FORK: "${{ github.event.pull_request.head.repo.fork }}"' in github
    assert 'url: "${{ steps.open.outputs.url }}"' in github
    assert 'echo "url=$url" >> "$GITHUB_OUTPUT"' in github
    assert run_scripts(github) and not any("${{" in line for line in run_scripts(github))
    assert '"$CI_MERGE_REQUEST_SOURCE_PROJECT_ID" != "$CI_MERGE_REQUEST_PROJECT_ID"' in gitlab
    for line in ("on_stop: review-close", 'auto_stop_in: "72 hours"', "action: stop"):
        assert line in gitlab
    for text in (github, gitlab):
        assert "${untrusted:+--untrusted} --json > review.json" in text
        assert "stageline review close" in text
        assert "STAGELINE_DATABASE_URL" in text


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stageline", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},  # a long path on one line
    )


def test_the_cli_prints_what_it_wrote_and_never_overwrites_unasked(tmp_path: Path) -> None:
    repo = committed(Path(shutil.copytree(SHOP, tmp_path / "shop")))
    wrote = cli("ci", "init", "gitlab", "-C", repo)
    assert wrote.returncode == 0, wrote.stderr
    assert f"wrote {repo / '.gitlab-ci.yml'}" in wrote.stdout
    assert "STAGELINE_DATABASE_URL" in wrote.stdout
    (repo / ".gitlab-ci.yml").write_text("# ours\n", encoding="utf-8")
    refused = cli("ci", "init", "gitlab", "-C", repo)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and "already exists" in refused.stderr
    assert "hint: use --force" in refused.stderr
    assert (repo / ".gitlab-ci.yml").read_text(encoding="utf-8") == "# ours\n"
    forced = init(repo, "gitlab", force=True)
    assert forced.path.read_text(encoding="utf-8") == forced.text == shop_file("gitlab")
    with pytest.raises(UnknownName, match="unknown CI system 'jenkins'; valid: github, gitlab"):
        init(repo, "jenkins")


def test_outside_a_git_repository_nothing_is_written(tmp_path: Path) -> None:
    shutil.copy(SHOP / "stageline.toml", tmp_path / "stageline.toml")
    with pytest.raises(GitError, match="not inside a git repository"):
        init(tmp_path, "github")
    assert not (tmp_path / ".github").exists()


def test_the_docs_end_with_exactly_what_ci_init_writes() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert FIRST in text
    assert text[text.index(FIRST) :] == generated(), (
        "docs/ci.md is stale: .venv/bin/python -m tests.ci.docs"
    )


def test_manual_hops_are_promoted_and_the_python_is_set_up(tmp_path: Path) -> None:
    from tests.ci.test_plan import env, pipeline_file

    text = (
        env("dev", "development", 9001, "auto")
        + env("qa", "testing", 9002, "manual")
        + env("stage", "staging", 9003, "auto", '["release-?.*"]')
    )
    committed(pipeline_file(tmp_path, text, 'python = "3.12"\n'))
    github = init(tmp_path, "github").path
    gitlab = init(tmp_path, "gitlab").path
    for path, promote in (
        (github, "          stageline promote "),
        (gitlab, "    - stageline promote "),
    ):
        text = path.read_text(encoding="utf-8")
        assert 'stageline ship "$' in text and f"{promote}dev\n{promote}qa\n" in text
        assert "verify stage --junit" in text
    assert 'python-version: "3.12"' in github.read_text(encoding="utf-8")
    assert '      - "release-*.*"' in github.read_text(encoding="utf-8")
    assert '"$CI_COMMIT_TAG =~ /^release-.\\\\..*$/"' in gitlab.read_text(encoding="utf-8")
    for kind, path in (("github", github), ("gitlab", gitlab)):
        checked = check_schema(SCHEMAS[kind], path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert actionlint(github).returncode == 0
