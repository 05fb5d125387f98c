"""Build real services of every shape, then install each offline and import its deps."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import uv
from artifact_helpers import APP_FILES, PACKAGE_FILES, RepoFactory, git, run_python

from stageline.artifacts import ArtifactStore, build, install

pytestmark = pytest.mark.slow


def names(paths: list[str], prefix: str) -> list[str]:
    return [p.removeprefix(prefix) for p in paths if p.startswith(prefix)]


def test_package_without_lock_is_resolved_fresh_and_installs_offline(
    repo_factory: RepoFactory, store: ArtifactStore, tmp_path: Path, go_offline: Callable[[], None]
) -> None:
    repo = repo_factory(PACKAGE_FILES)
    result = build(repo, "v1.0.0", store)
    manifest = result.manifest
    assert manifest.service.kind == "package"
    assert manifest.service.version == "0.3.0"
    assert manifest.service.wheel == "greet-0.3.0-py3-none-any.whl"
    assert manifest.pinned_from is None
    assert {pin.name for pin in manifest.pins} == {"docopt", "six"}
    files = [entry.path for entry in manifest.files]
    assert "wheels/greet-0.3.0-py3-none-any.whl" in files
    assert any(name.startswith("docopt-0.6.2-") for name in names(files, "wheels/"))
    assert names(files, "bundle/") == ["migrations/0001.sql"]
    assert not any(path.startswith("app/") for path in files)
    assert result.path == store.path_for(result.digest)

    go_offline()
    install(result.path, tmp_path / "venv", python=sys.executable)
    out = run_python(tmp_path / "venv", "import greet, docopt, six; print(greet.GREETING)")
    assert out == "hello"


def test_app_tree_pinned_by_requirements_installs_offline(
    repo_factory: RepoFactory, store: ArtifactStore, tmp_path: Path, go_offline: Callable[[], None]
) -> None:
    repo = repo_factory(APP_FILES)
    (repo / "app.py").write_text("raise SystemExit('the work tree is never built')\n")
    (repo / "untracked.txt").write_text("not committed\n")
    result = build(repo, "v1.0.0", store)
    manifest = result.manifest
    assert manifest.service.kind == "app"
    assert manifest.service.version == "1.0.0"
    assert manifest.pinned_from == "requirements.txt"
    assert [(p.name, p.version) for p in manifest.pins] == [("idna", "3.7"), ("six", "1.16.0")]
    files = [entry.path for entry in manifest.files]
    assert "app/untracked.txt" not in files
    assert (result.path / "app/static/six.txt").read_text() == "1.16.0"  # build step output
    assert names(files, "bundle/") == ["conf/app.ini", "migrations/0001_init.sql"]

    go_offline()
    install(result.path, tmp_path / "venv", python=sys.executable)
    out = run_python(tmp_path / "venv", "import app; print(app.VALUE)", cwd=result.path / "app")
    assert out == "xn--bcher-kva.example"


def test_requirements_with_hashes(
    repo_factory: RepoFactory, store: ArtifactStore, tmp_path: Path, go_offline: Callable[[], None]
) -> None:
    wheels = tmp_path / "downloaded"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "-d", str(wheels), "six==1.16.0", "idna==3.7"],
        check=True, env={**_online_env()},
    )  # fmt: skip
    lines = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{sha}\n")
    repo = repo_factory({**APP_FILES, "requirements.txt": "".join(lines)})
    result = build(repo, "v1.0.0", store)
    assert [p.name for p in result.manifest.pins] == ["idna", "six"]
    go_offline()
    install(result.path, tmp_path / "venv", python=sys.executable)
    run_python(tmp_path / "venv", "import app", cwd=result.path / "app")


def test_app_pinned_by_uv_lock(
    repo_factory: RepoFactory, store: ArtifactStore, tmp_path: Path, go_offline: Callable[[], None]
) -> None:
    pyproject = (
        '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["six==1.16.0", "idna==3.7"]\n'
    )
    files = {k: v for k, v in APP_FILES.items() if k != "requirements.txt"}
    repo = repo_factory({**files, "pyproject.toml": pyproject}, tag=None)
    subprocess.run([uv.find_uv_bin(), "lock", "--quiet"], cwd=repo, check=True, env=_online_env())
    git(repo, "add", "uv.lock")
    git(repo, "commit", "-q", "-m", "lock")
    git(repo, "tag", "v2.0.0")
    result = build(repo, "v2.0.0", store)
    manifest = result.manifest
    assert manifest.service.kind == "app"
    assert manifest.service.version == "2.0.0"
    assert manifest.pinned_from == "uv.lock"
    assert [(p.name, p.version) for p in manifest.pins] == [("idna", "3.7"), ("six", "1.16.0")]
    go_offline()
    install(result.path, tmp_path / "venv", python=sys.executable)
    assert run_python(tmp_path / "venv", "import app; print(app.VALUE)", cwd=result.path / "app")


def test_explicit_lock_wins_and_untagged_commit_gets_a_local_version(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    toml = APP_FILES["stageline.toml"] + 'lock = "deploy/pins.txt"\n'
    files = {**APP_FILES, "stageline.toml": toml, "deploy/pins.txt": "six==1.16.0\nidna==3.7\n"}
    repo = repo_factory({**files, "requirements.txt": "six==1.15.0\n"}, tag=None)
    result = build(repo, "main", store)
    commit = git(repo, "rev-parse", "HEAD")
    assert result.manifest.pinned_from == "deploy/pins.txt"
    assert result.manifest.source.tag is None
    assert result.manifest.source.commit == commit
    assert result.manifest.source.commit_time == "2024-05-01T12:00:00Z"
    assert result.manifest.service.version == f"0+g{commit[:7]}"


def _online_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_NO_INDEX"))}
