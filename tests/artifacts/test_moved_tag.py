"""A moved release tag is refused, naming both commits: an artifact is found by commit,
never by tag name alone (issue 18, break 11: `ship` deployed the old commit's build)."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_helpers import APP_FILES, git, make_repo

from stageline.errors import TagMoved
from stageline.usecases.deploy import resolve_artifact
from stageline.usecases.pipeline import Session, build, current_source, refuse_moved_tag


@pytest.mark.slow
def test_a_moved_tag_is_refused_by_build_and_deploy_naming_both_commits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", APP_FILES)
    (repo / ".gitignore").write_text(".stageline/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore the stageline folder")
    git(repo, "tag", "-f", "-a", "v1.0.0", "-m", "v1.0.0")
    with Session.open(repo) as session:
        first = build(session, "v1.0.0").record
        assert resolve_artifact(session, "v1.0.0").digest == first.digest  # not moved: found

        (repo / "app.py").write_text(APP_FILES["app.py"] + "EDITED = True\n")
        git(repo, "commit", "-q", "-am", "an edit after the release was built")
        git(repo, "tag", "-f", "-a", "v1.0.0", "-m", "v1.0.0 moved")
        moved_to = git(repo, "rev-parse", "v1.0.0^{commit}")
        assert moved_to != first.commit

        for attempt in (
            lambda: build(session, "v1.0.0"),
            lambda: resolve_artifact(session, "v1.0.0"),
        ):
            with pytest.raises(TagMoved) as caught:
                attempt()
            message = str(caught.value)
            assert first.commit[:12] in message and moved_to[:12] in message
            assert first.digest[:19] in message
            assert caught.value.hint is not None and "new release" in caught.value.hint
        # the earlier build stays reachable by its digest, and a new tag is not refused
        assert resolve_artifact(session, first.digest).digest == first.digest
        git(repo, "tag", "-a", "v1.0.1-rc1", "-m", "rc")
        now = current_source(session, "v1.0.1-rc1")
        assert now is not None and now.commit == moved_to
        refuse_moved_tag(session, now)
