"""Safe extraction (artifacts/untar.py) with crafted tarballs, and a real `git archive`.

These run unchanged under Debian 12's Python 3.11.2 (no ``extractall(filter=...)``): the
fresh-machine test (tests/fresh/) runs this file inside that root.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from stageline.artifacts import source, untar
from stageline.errors import UnsafeArchive


def _member(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    for key, value in attrs.items():
        setattr(member, key, value)
    return member


def _tar(*members: tarfile.TarInfo) -> tarfile.TarFile:
    """An in-memory tar holding ``members`` (regular files hold their own name as data)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as out:
        for member in members:
            data = member.name.encode() if member.isreg() else b""
            member.size = len(data)
            out.addfile(member, io.BytesIO(data) if member.isreg() else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


def _extract(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    dest = tmp_path / "tree"
    with _tar(*members) as archive:
        untar.extract(archive, dest)
    return dest


def _refused(tmp_path: Path, *members: tarfile.TarInfo) -> UnsafeArchive:
    """Extract ``members``, expect a refusal, and prove nothing at all was written."""
    dest = tmp_path / "tree"
    with _tar(*members) as archive, pytest.raises(UnsafeArchive) as caught:
        untar.extract(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "outside").exists()
    return caught.value


def test_a_plain_tree_extracts_with_its_links_and_modes_limited(tmp_path: Path) -> None:
    dest = _extract(
        tmp_path,
        _member("pkg", tarfile.DIRTYPE, mode=0o775),
        _member("pkg/run.sh", mode=0o4777),
        _member("pkg/data.txt", mode=0o664),
        _member("pkg/alias", tarfile.SYMTYPE, linkname="data.txt"),
        _member("pkg/up", tarfile.SYMTYPE, linkname="../pkg/data.txt"),
        _member("same", tarfile.LNKTYPE, linkname="pkg/data.txt"),
    )
    assert (dest / "pkg" / "alias").read_text() == "pkg/data.txt"
    assert (dest / "pkg" / "up").read_text() == "pkg/data.txt"
    assert (dest / "same").read_text() == "pkg/data.txt"
    assert stat.S_IMODE((dest / "pkg" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "pkg" / "data.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((dest / "pkg").stat().st_mode) == 0o755


@pytest.mark.parametrize("name", ["/etc/evil", "../outside", "pkg/../../outside", "./../outside"])
def test_absolute_and_climbing_names_are_refused(tmp_path: Path, name: str) -> None:
    error = _refused(tmp_path, _member("pkg/ok"), _member(name))
    assert error.member == name
    assert "absolute or climbs" in str(error)


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../outside", ".."])
def test_symlinks_out_of_the_tree_are_refused(tmp_path: Path, target: str) -> None:
    error = _refused(tmp_path, _member("link", tarfile.SYMTYPE, linkname=target))
    assert f"links out of the tree (to {target})" in str(error)


def test_a_symlink_deeper_down_may_not_climb_past_the_top(tmp_path: Path) -> None:
    _refused(tmp_path, _member("a/b/link", tarfile.SYMTYPE, linkname="../../../outside"))


def test_nothing_is_written_through_a_link(tmp_path: Path) -> None:
    # each link alone stays inside; together they would put `outside` next to the tree
    error = _refused(
        tmp_path,
        _member("here", tarfile.SYMTYPE, linkname="."),
        _member("here/up", tarfile.SYMTYPE, linkname=".."),
    )
    assert error.member == "here/up"
    assert "leads through a link" in str(error)
    _refused(tmp_path, _member("sub", tarfile.SYMTYPE, linkname="pkg"), _member("sub/file"))


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "alias"])
def test_hard_links_out_of_the_tree_or_to_a_link_are_refused(tmp_path: Path, target: str) -> None:
    error = _refused(
        tmp_path,
        _member("alias", tarfile.SYMTYPE, linkname="data"),
        _member("data"),
        _member("hard", tarfile.LNKTYPE, linkname=target),
    )
    assert error.member == "hard"
    assert f"hard link out of the tree or to a link (to {target})" in str(error)


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_special_files_are_refused(tmp_path: Path, kind: bytes) -> None:
    error = _refused(tmp_path, _member("pkg/ok"), _member("dev", kind, devmajor=1, devminor=3))
    assert "special file" in str(error)


def test_refusal_judges_names_only() -> None:
    links = {"lnk"}
    assert untar.refusal(_member("lnk", tarfile.SYMTYPE, linkname="x/y"), links) is None
    assert untar.refusal(_member("x/lnk/../z"), links) is not None
    assert untar.refusal(_member("lnk/z"), links) == "its path leads through a link"
    assert untar.refusal(_member("a/b", tarfile.DIRTYPE), links) is None


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_commit_exports_with_the_modes_of_git_and_its_inner_links(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "bin").mkdir(parents=True)
    (repo / "bin" / "start").write_text("#!/bin/sh\n")
    (repo / "bin" / "start").chmod(0o775)
    (repo / "notes.txt").write_text("notes\n")
    os.symlink("notes.txt", repo / "README")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "x")
    dest = tmp_path / "export"
    source.export(repo, source.resolve(repo, "HEAD").commit, dest)
    assert stat.S_IMODE((dest / "bin" / "start").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "notes.txt").stat().st_mode) == 0o644
    assert (dest / "README").is_symlink() and (dest / "README").read_text() == "notes\n"


def test_a_commit_holding_a_link_out_of_its_tree_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink("/etc/passwd", repo / "passwd")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", "x")
    dest = tmp_path / "export"
    with pytest.raises(UnsafeArchive, match="links out of the tree"):
        source.export(repo, source.resolve(repo, "HEAD").commit, dest)
    assert not dest.exists()
