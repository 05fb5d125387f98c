"""Build hygiene (issue 18, break 2): the build never follows a link out of its tree, keeps
links inside as links, refuses special files, caps sizes, and calls a full disk full.

Build steps run in the exported commit and may leave anything behind; these builds are
real (git, pip, uv), and the full disks are real small tmpfs mounts (root only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from artifact_helpers import APP_FILES, RepoFactory, git

from stageline.artifacts import ArtifactStore, BuildResult, build, install
from stageline.errors import DiskFull, UnsafeTree
from stageline.host.disk import says_disk_full

pytestmark = pytest.mark.slow


def with_steps(*steps: str, extra: str = "") -> dict[str, str]:
    """APP_FILES whose build runs ``steps`` (in the exported tree) after its own."""
    all_steps = json.dumps(["python tools/collect.py static", *steps])  # TOML reads JSON strings
    toml = APP_FILES["stageline.toml"].replace(
        'build = ["python tools/collect.py static"]', f"build = {all_steps}"
    )
    return {**APP_FILES, "stageline.toml": toml.replace("[service]\n", "[service]\n" + extra)}


def test_a_committed_link_inside_the_tree_is_kept_as_a_link(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    repo = repo_factory(APP_FILES, tag=None)
    os.symlink("app.ini", repo / "conf" / "alias.ini")
    os.symlink("conf", repo / "settings")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    git(repo, "tag", "-a", "v1.0.0", "-m", "v1.0.0")

    result = build(repo, "v1.0.0", store)

    app = result.path / "app"
    assert os.readlink(app / "conf" / "alias.ini") == "app.ini"
    assert os.readlink(app / "settings") == "conf"
    entries = {entry.path: entry for entry in result.manifest.files}
    assert entries["app/conf/alias.ini"].link == "app.ini"
    assert entries["app/settings"].link == "conf"
    assert entries["app/conf/app.ini"].link is None
    assert entries["bundle/conf/alias.ini"].link == "app.ini"  # the bundle glob keeps it too
    assert not any(path.startswith("app/settings/") for path in entries)  # not walked
    store.verify(result.digest)
    os.unlink(app / "settings")
    os.symlink("/etc", app / "settings")
    with pytest.raises(Exception, match="changed: app/settings"):
        store.verify(result.digest)


@pytest.mark.parametrize(
    ("step", "named", "reason"),
    [
        ("ln -s /etc/shadow leak", "leak", "links out of the tree (to /etc/shadow)"),
        ("ln -s /etc host", "host", "links out of the tree (to /etc)"),
        ("ln -s /dev/zero zero", "zero", "links out of the tree (to /dev/zero)"),
        ("ln -s ../../../.. climb", "climb", "links out of the tree"),
        ("mkfifo pipe && ln -s pipe a-pipe", "a-pipe", "links to a special file"),
        ("mkfifo fifo", "fifo", "special file"),
    ],
)
def test_a_link_out_of_the_tree_or_a_special_file_is_refused_naming_it(
    repo_factory: RepoFactory, store: ArtifactStore, step: str, named: str, reason: str
) -> None:
    repo = repo_factory(with_steps(step))
    with pytest.raises(UnsafeTree) as caught:
        build(repo, "v1.0.0", store)
    assert caught.value.path == named
    assert reason in str(caught.value)
    assert store.list() == []
    assert list((store.root / ".tmp").iterdir()) == []


def test_a_bundle_glob_through_a_link_out_of_the_tree_is_refused(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    files = with_steps("mkdir -p etc && ln -s /etc etc/host")
    files["stageline.toml"] = files["stageline.toml"].replace(
        '"migrations/"', '"migrations/", "etc/host/pass*"'
    )
    with pytest.raises(UnsafeTree, match="etc/host"):
        build(repo_factory(files), "v1.0.0", store)


def test_a_file_over_the_per_file_cap_names_the_file_the_cap_and_the_key(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    step = "python -c \"open('big.bin', 'wb').write(bytes(1_500_000))\""
    repo = repo_factory(with_steps(step, extra="max_file_mb = 1\n"))
    with pytest.raises(UnsafeTree) as caught:
        build(repo, "v1.0.0", store)
    assert caught.value.path == "big.bin"
    assert "larger than the cap of 1 MB per file" in str(caught.value)
    assert "max_file_mb" in (caught.value.hint or "")


def test_an_artifact_over_its_total_cap_names_the_file_that_passed_it(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    step = "python -c \"[open(f'part{i}.bin', 'wb').write(bytes(400_000)) for i in range(4)]\""
    repo = repo_factory(with_steps(step, extra="max_artifact_mb = 1\n"))
    with pytest.raises(UnsafeTree) as caught:
        build(repo, "v1.0.0", store)
    assert re.fullmatch(r"part\d\.bin", caught.value.path)
    assert "cap of 1 MB in all" in str(caught.value)
    assert "max_artifact_mb" in (caught.value.hint or "")


# -- a full disk, for real ----------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tiny_disk("3m")``: a fresh tmpfs of that size, unmounted after the test."""
    if os.geteuid() != 0:
        pytest.fail("the full-disk tests mount a small tmpfs and need root")
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                       check=True)  # fmt: skip
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=True)


def test_a_full_disk_while_installing_is_not_a_missing_dependency(
    built_app: BuildResult, tiny_disk: Callable[[str], Path]
) -> None:
    disk = tiny_disk("300k")
    with pytest.raises(DiskFull) as caught:
        install(built_app.path, disk / "venv")
    assert str(disk / "venv") in str(caught.value)
    assert "no space left" in str(caught.value)
    assert "missing from the lock" not in f"{caught.value} {caught.value.hint}"


def test_a_full_disk_in_a_build_step_is_reported_with_the_path(
    repo_factory: RepoFactory, tiny_disk: Callable[[str], Path]
) -> None:
    store = ArtifactStore(tiny_disk("4m"))
    step = "python -c \"open('big.bin', 'wb').write(bytes(8_000_000))\""
    with pytest.raises(DiskFull) as caught:
        build(repo_factory(with_steps(step)), "v1.0.0", store)
    assert str(store.root) in str(caught.value)


def test_a_full_disk_while_copying_into_the_artifact_is_reported(
    repo_factory: RepoFactory, tiny_disk: Callable[[str], Path]
) -> None:
    store = ArtifactStore(tiny_disk("4m"))
    step = "python -c \"open('big.bin', 'wb').write(bytes(2_200_000))\""  # fits once, not twice
    with pytest.raises(DiskFull) as caught:
        build(repo_factory(with_steps(step)), "v1.0.0", store)
    assert str(store.root) in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)  # raised here, not said by a child


def test_what_a_full_disk_says() -> None:
    assert says_disk_full("OSError: [Errno 28] No space left on device: 'x'")
    assert says_disk_full("error: failed to write to file: No space left on device (os error 28)")
    assert says_disk_full("head: error writing 'big': No space left on device")
    assert not says_disk_full("ERROR: No matching distribution found for six==9")
