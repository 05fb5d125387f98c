"""Real builds of tags as teams have them: no stageline file, a service in a uv workspace's
subfolder, a Python the service does not support, a requirements file that is no lock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import uv
from artifact_helpers import RepoFactory, git, run_python

from stageline.artifacts import ArtifactStore, build, install, testlayer
from stageline.artifacts.install import offline_env, requirements_of
from stageline.artifacts.section import drift
from stageline.config.model import Service
from stageline.errors import BuildError, UsageError

LOOSE = {"app.py": "import idna\nimport six\n", "requirements.txt": "six>=1.16\nidna==3.7\n"}

SETUPTOOLS = (
    '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
)

WORKSPACE = {
    "pyproject.toml": (
        '[project]\nname = "monorepo"\nversion = "0"\nrequires-python = ">=3.11"\n\n'
        '[tool.uv]\npackage = false\n\n[tool.uv.workspace]\nmembers = ["backend", "libs/common"]\n'
    ),
    "backend/pyproject.toml": (
        f'{SETUPTOOLS}[project]\nname = "api"\nversion = "0.2.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["six==1.16.0", "acme-common"]\n\n'
        '[dependency-groups]\ndev = ["iniconfig"]\n\n'
        "[tool.uv.sources]\nacme-common = { workspace = true }\n"
    ),
    "backend/src/api/__init__.py": "import six\nfrom acme_common import SHARED\n\nNAME = 'api'\n",
    "backend/migrations/0001.sql": "select 1;\n",
    "backend/tests/test_api.py": "import iniconfig\n",
    "libs/common/pyproject.toml": (
        f'{SETUPTOOLS}[project]\nname = "acme-common"\nversion = "0.3.0"\n'
        'requires-python = ">=3.11"\n'
    ),
    "libs/common/src/acme_common/__init__.py": "SHARED = 'common'\n",
    "stageline.toml": (
        '[service]\nname = "api"\nstart = "python -m api"\nroot = "backend"\n'
        'bundle = ["migrations/"]\n\n[service.tests]\ngroup = "dev"\n'
    ),
}


@pytest.mark.slow
def test_a_tag_without_a_stageline_file_builds_with_the_operators_file(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    repo = repo_factory(LOOSE)
    with pytest.raises(UsageError, match=r"^v1\.0\.0 has no \[service\] in stageline\.toml"):
        build(repo, "v1.0.0", store)
    operator = Service(name="hello", start="python app.py")
    said: list[str] = []
    first = build(repo, "v1.0.0", store, operator=lambda: operator, progress=said.append)
    manifest = first.manifest
    assert manifest.service_from == "pipeline file"
    assert manifest.service.section() == operator.model_dump(mode="json")
    # requirements.txt pins idna only: six was resolved by the build, and it says so
    assert manifest.pinned_from == "requirements.txt"
    assert [p.name for p in manifest.pins] == ["idna", "six"]
    assert manifest.resolved_at_build == ["six"]
    assert "resolved at build time, not pinned by requirements.txt: six" in said
    edited = operator.model_copy(update={"start": "python -m app"})
    assert drift(edited, manifest) == "start differs from the built artifact's; rebuild to take it"
    second = build(repo, "v1.0.0", store, operator=lambda: edited)
    assert not second.reused and second.digest != first.digest
    assert second.manifest.service.start == "python -m app"
    assert drift(edited, second.manifest) is None


@pytest.mark.slow
def test_a_service_in_a_uv_workspace_subfolder(
    repo_factory: RepoFactory, store: ArtifactStore, tmp_path: Path, go_offline: Callable[[], None]
) -> None:
    repo = repo_factory(WORKSPACE, tag=None)
    online = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_NO_INDEX"))}
    subprocess.run([uv.find_uv_bin(), "lock", "--quiet"], cwd=repo, check=True, env=online)
    git(repo, "add", "uv.lock")
    git(repo, "commit", "-q", "-m", "lock")
    git(repo, "tag", "v0.2.0")
    result = build(repo, "v0.2.0", store)
    manifest = result.manifest
    assert manifest.service_from == "commit"
    assert (manifest.service.kind, manifest.service.version) == ("package", "0.2.0")
    assert manifest.pinned_from == "uv.lock"  # found at the workspace's root, above backend/
    # the sibling member is built from the commit into the wheelhouse; the dev group stays out
    assert [(p.name, p.version, p.source) for p in manifest.pins] == [
        ("acme-common", "0.3.0", "workspace member"),
        ("six", "1.16.0", None),
    ]
    assert manifest.resolved_at_build == []
    assert [f.path for f in manifest.files if f.path.startswith("bundle/")] == [
        "bundle/migrations/0001.sql"
    ]
    # the test layer's group is exported from the workspace's lock
    layer = testlayer.read(result.path)
    assert layer is not None and layer.pinned_from == "uv.lock"
    assert [pin.split("==")[0] for pin in layer.pins] == ["iniconfig"]
    assert (layer.files / "tests" / "test_api.py").is_file()
    go_offline()
    install(result.path, tmp_path / "venv", python=sys.executable)
    code = "import api, six; print(api.NAME, api.SHARED)"
    assert run_python(tmp_path / "venv", code) == "api common"
    # what the pytest gate installs: the release and its test layer, offline
    release = requirements_of(manifest, result.path / "wheels")
    gate = tmp_path / "gate-venv"
    for argv in testlayer.install_argv(result.path, layer, gate, python=sys.executable,
                                       release=release):  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True, env=offline_env())
    assert run_python(gate, "import api, iniconfig; print(api.SHARED)") == "common"


def test_a_python_the_service_does_not_support_is_refused(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "new"\nversion = "1"\nrequires-python = ">=3.99"\n',
        "stageline.toml": '[service]\nname = "new"\nstart = "python -m new"\n',
    }
    repo = repo_factory(files)
    with pytest.raises(
        BuildError, match=r"^refusing to build v1\.0\.0: it requires Python >=3\.99"
    ):
        build(repo, "v1.0.0", store)
    asks = Service(name="new", start="python -m new", python="3.99")
    other = repo_factory({k: v for k, v in files.items() if k != "stageline.toml"}, name="other")
    with pytest.raises(BuildError, match=r"asks for Python 3\.99"):
        build(other, "v1.0.0", store, operator=lambda: asks)
    assert store.list() == []  # nothing was built


def test_a_root_the_tag_does_not_have_is_named(
    repo_factory: RepoFactory, store: ArtifactStore
) -> None:
    repo = repo_factory({"app.py": "print(1)\n"})
    service = Service(name="api", start="python app.py", root="backend")
    with pytest.raises(UsageError, match=r"^\[service\] root = 'backend': v1\.0\.0 has no such"):
        build(repo, "v1.0.0", store, operator=lambda: service)
