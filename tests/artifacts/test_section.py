"""Which [service] section a build takes, and the line that says a built one differs."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_helpers import RepoFactory

from stageline.artifacts import source
from stageline.artifacts.manifest import (
    Manifest,
    PythonInfo,
    ServiceInfo,
    SourceInfo,
    parse_manifest,
)
from stageline.artifacts.section import (
    Section,
    choose,
    differing_keys,
    drift,
    drift_line,
    in_commit,
)
from stageline.config.model import Service
from stageline.errors import ConfigError, ConfigIssue, UsageError

OPERATOR = Service(name="shop", start="uvicorn shop:app --port {port}", health="/up")


def manifest(service: ServiceInfo, origin: str | None) -> Manifest:
    return Manifest.model_validate(
        {
            "service": service.model_dump(),
            "source": SourceInfo(
                ref="v1", tag="v1", commit="c" * 40, commit_time="2026-01-01T00:00:00Z"
            ),
            "python": PythonInfo(implementation="cpython", version="3.11", platform="linux_x86_64"),
            "pins": [],
            "pinned_from": None,
            "files": [],
            "service_from": origin,
        }
    )


def frozen(service: Service, **extra: object) -> ServiceInfo:
    return ServiceInfo(**service.model_dump(mode="json"), version="1", kind="app", **extra)


# -- which section wins -------------------------------------------------------------------


def test_the_commits_own_section_wins_and_the_pipeline_file_is_not_read() -> None:
    own = Service(name="shop", start="python -m shop")

    def unread() -> Service:
        raise AssertionError("the pipeline file was read")

    assert choose(own, unread, "v1.0.0") == Section(own, "commit")


def test_without_its_own_section_a_tag_takes_the_pipeline_files() -> None:
    assert choose(None, lambda: OPERATOR, "v1.0.0") == Section(OPERATOR, "pipeline file")


def test_neither_section_names_the_tag_and_the_files_never_a_temp_folder(tmp_path: Path) -> None:
    def missing() -> Service:
        raise UsageError(f"no stageline.toml (or [tool.stageline] in pyproject.toml) in {tmp_path}")

    with pytest.raises(UsageError) as caught:
        choose(None, missing, "v1.0.0")
    message = str(caught.value)
    assert message.startswith("v1.0.0 has no [service] in stageline.toml or pyproject.toml")
    assert str(tmp_path) in message  # where the pipeline file was looked for
    assert "stageline init" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="no pipeline file was given"):
        choose(None, None, "v2")


def test_a_broken_pipeline_file_keeps_its_own_error() -> None:
    def broken() -> Service:
        raise ConfigError([ConfigIssue("stageline.toml", 3, "service.start", "too short")])

    with pytest.raises(ConfigError, match=r"stageline\.toml:3"):
        choose(None, broken, "v1.0.0")


def test_the_section_is_read_from_the_commit_not_the_work_tree(
    repo_factory: RepoFactory, tmp_path: Path
) -> None:
    toml = '[service]\nname = "shop"\nstart = "python -m shop"\n'
    repo = repo_factory({"stageline.toml": toml})
    (repo / "stageline.toml").write_text('[service]\nname = "shop"\nstart = "edited"\n')
    src = source.resolve(repo, "v1.0.0")
    found = in_commit(repo, src)
    assert found is not None and found.start == "python -m shop"


def test_pyproject_tool_stageline_counts_and_a_file_without_service_does_not(
    repo_factory: RepoFactory,
) -> None:
    files = {
        "stageline.toml": '[environments.production]\ntier = "production"\n',
        "pyproject.toml": '[tool.stageline.service]\nname = "api"\nstart = "api"\n',
    }
    repo = repo_factory(files)
    found = in_commit(repo, source.resolve(repo, "v1.0.0"))
    assert found is not None and found.name == "api"
    bare = repo_factory({"app.py": "print(1)\n"}, name="bare")
    assert in_commit(bare, source.resolve(bare, "v1.0.0")) is None


def test_the_tags_own_file_is_looked_for_where_the_operator_keeps_it(
    repo_factory: RepoFactory,
) -> None:
    repo = repo_factory({"ops/stageline.toml": '[service]\nname = "api"\nstart = "api"\n'})
    src = source.resolve(repo, "v1.0.0")
    assert in_commit(repo, src) is None
    found = in_commit(repo, src, "ops")
    assert found is not None and found.name == "api"
    with pytest.raises(UsageError, match=r"no \[service\] in ops/stageline\.toml or ops/pyproject"):
        choose(None, None, "v1.0.0", "ops")


def test_an_invalid_section_in_the_tag_names_the_file_at_the_tag(
    repo_factory: RepoFactory,
) -> None:
    repo = repo_factory({"stageline.toml": '[service]\nname = "Shop!"\nstart = "x"\n'})
    with pytest.raises(ConfigError) as caught:
        in_commit(repo, source.resolve(repo, "v1.0.0"))
    issue = caught.value.issues[0]
    assert (issue.file, issue.line, issue.key) == ("stageline.toml at v1.0.0", 2, "service.name")


# -- what differs ---------------------------------------------------------------------------


def test_the_drift_line_for_one_key_and_for_several() -> None:
    assert drift_line([], "pipeline file", "v1") is None
    assert (
        drift_line(["start"], "pipeline file", "v1")
        == "start differs from the built artifact's; rebuild to take it"
    )
    assert (
        drift_line(["health", "start"], None, "v1")
        == "health, start differ from the built artifact's; rebuild to take them"
    )
    line = drift_line(["start"], "commit", "v1.2.0")
    assert line is not None and "v1.2.0's own pipeline file set" in line
    assert "tag a release" in line


def test_an_edit_to_the_pipeline_file_is_drift_and_an_equal_file_is_not() -> None:
    built = manifest(frozen(OPERATOR), "pipeline file")
    assert drift(OPERATOR, built) is None
    edited = OPERATOR.model_copy(update={"start": "gunicorn shop:app"})
    assert drift(edited, built) == "start differs from the built artifact's; rebuild to take it"


def test_keys_other_branches_add_are_frozen_and_compared() -> None:
    kept = OPERATOR.model_copy(update={"persist": ["uploads"]})
    built = manifest(frozen(kept, flavour="added later"), "pipeline file")
    assert built.service.get("flavour") == "added later"  # a key ServiceInfo does not name
    assert built.service.get("persist") == ["uploads"]
    again = parse_manifest(built.canonical_json())
    assert again.service.section()["persist"] == ["uploads"]
    assert differing_keys({"persist": ["media"]}, again.service.section(), complete=True) == [
        "persist"
    ]


def test_an_older_manifest_is_compared_on_the_keys_it_recorded() -> None:
    old = ServiceInfo(name="shop", version="1", kind="app", start=OPERATOR.start, health="/up")
    built = manifest(old, None)
    changed = OPERATOR.model_copy(update={"lock": "requirements.txt", "python": "3.12"})
    assert drift(changed, built) is None  # it never recorded lock or python
    assert drift(changed.model_copy(update={"health": "/ok"}), built) == (
        "health differs from the built artifact's; rebuild to take it"
    )


def test_a_key_added_after_the_build_at_its_default_is_no_drift() -> None:
    data = frozen(OPERATOR).model_dump()
    del data["python"]  # as if built before `python` existed
    built = manifest(ServiceInfo(**data), "pipeline file")
    assert drift(OPERATOR, built) is None
    assert drift(OPERATOR.model_copy(update={"python": "3.12"}), built) == (
        "python differs from the built artifact's; rebuild to take it"
    )


def test_an_older_manifests_bytes_and_digest_do_not_change() -> None:
    old = manifest(frozen(OPERATOR), None)
    data = old.canonical_json()
    assert b"service_from" not in data and b"resolved_at_build" not in data
    assert parse_manifest(data).canonical_json() == data


@pytest.mark.parametrize(("written", "kept"), [("backend", "backend"), ("./backend/", "backend"),
                                               ("apps/api", "apps/api"), (".", None)])  # fmt: skip
def test_root_is_a_folder_inside_the_repository(written: str, kept: str | None) -> None:
    assert Service(name="api", start="api", root=written).root == kept


@pytest.mark.parametrize("written", ["/srv/api", "../api", "backend/../../x"])
def test_a_root_outside_the_repository_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="root is a folder inside the repository"):
        Service(name="api", start="api", root=written)
