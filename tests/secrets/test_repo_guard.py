"""`.stageline/` never reaches git: it is git-ignored on creation, the master key lives
outside the repository, and a build refuses while anything under it is tracked."""

from __future__ import annotations

import os
import stat
import subprocess
import warnings
from pathlib import Path

import pytest

from stageline.cli import main
from stageline.errors import Refused
from stageline.host.keyring import key_file_path, load_keyring, write_key_file
from stageline.host.repo_guard import Notice, ignore_home, refuse_tracked_home
from stageline.host.workspace import Workspace
from stageline.usecases.pipeline import Session, build


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(project: Path) -> Path:
    """The secrets tests' project (a stageline.toml), made a git repository."""
    git(project, "init", "-q")
    return project


def test_the_first_session_ignores_the_folder_once_and_says_so(repo: Path) -> None:
    (repo / ".gitignore").write_text("*.pyc")  # no final newline
    with pytest.warns(Notice, match=r"\.gitignore: `\.stageline/`"), Session.open(repo):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error", Notice)
        with Session.open(repo):  # the folder exists: nothing more to say
            pass
    assert (repo / ".gitignore").read_text().splitlines()[0] == "*.pyc"
    assert (repo / ".gitignore").read_text().count(".stageline/") == 1
    git(repo, "add", "-A")
    assert ".stageline" not in git(repo, "status", "--porcelain")
    assert ignore_home(repo, repo / ".stageline") is None  # once


def test_init_creates_the_gitignore(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "stageline.toml").unlink()
    monkeypatch.chdir(repo)
    with pytest.raises(SystemExit) as done:
        main(["init"])
    assert done.value.code == 0
    assert (repo / ".gitignore").read_text().splitlines()[-1] == ".stageline/"
    assert "created" in capsys.readouterr().err


def test_outside_git_nothing_is_written(project: Path) -> None:
    assert ignore_home(project, project / ".stageline") is None
    assert not (project / ".gitignore").exists()


def test_the_master_key_lives_outside_the_repository(
    project: Path, private_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Workspace.at(project).home
    keyring = load_keyring(home, create=True)
    assert keyring.path is not None
    assert keyring.path.is_relative_to(private_home / ".config" / "stageline")
    assert not keyring.path.is_relative_to(project)
    assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600
    other = project / "other" / ".stageline"
    assert key_file_path(other) != keyring.path  # one key per workspace
    monkeypatch.setenv("XDG_CONFIG_HOME", str(project.parent / "xdg"))
    assert key_file_path(home).is_relative_to(project.parent / "xdg" / "stageline")


def test_an_older_key_file_in_the_folder_keeps_being_read(project: Path) -> None:
    home = Workspace.at(project).home
    legacy = home / "keys" / "master.key"
    write_key_file(legacy, (os.urandom(32),))
    assert load_keyring(home).path == legacy


def test_a_build_refuses_while_the_folder_is_tracked(repo: Path) -> None:
    with Session.open(repo) as session:
        home = session.workspace.home
        (home / "state.db").touch()
        git(repo, "add", "-f", ".stageline/state.db")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "oops")
        git(repo, "tag", "v1.0.0")
        with pytest.raises(Refused) as caught:
            build(session, "v1.0.0")
    assert ".stageline/state.db" in str(caught.value)
    assert caught.value.hint is not None
    assert "rm --cached -r .stageline" in caught.value.hint
    git(repo, "rm", "-q", "--cached", "-r", ".stageline")
    refuse_tracked_home(repo, home)  # untracked: no more refusal
