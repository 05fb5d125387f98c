"""Use-case tests in milliseconds: the real use cases (``stageline.usecases.deploy``,
``verification``, ``status``) on a real SQLite state store in ``tmp_path`` and a real
artifact folder, with :class:`~stageline.targets.fake.FakeTargets` in place of the
``local`` target. No PostgreSQL, no agent, no git; the facts a test needs (an artifact,
a deployment, a gate run, an approval) are put in the store directly.

The store's schema is migrated once per session into a template file that each test
copies, so opening a store costs a file copy, not a migration.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stageline.agent.record import settle
from stageline.artifacts import ArtifactStore
from stageline.artifacts.manifest import (
    MANIFEST_NAME,
    Manifest,
    PythonInfo,
    ServiceInfo,
    SourceInfo,
)
from stageline.host.workspace import Workspace
from stageline.state import ArtifactRecord, Store
from stageline.targets.base import DeploymentId
from stageline.targets.fake import FakeTargets
from stageline.usecases.pipeline import Session

ACTOR = "olga@shop.example"

# One person plays every role here: proving who acts (signatures, tokens) is
# tests/test_identity.py's subject; these tests walk the use cases' paths.
PIPELINE = """
[access]
mode = "single-person"

[service]
name = "shop"
start = "serve --port {port}"
health = "/healthz"
release = "migrate"

[people.groups]
qa = ["ana@shop.example", "ben@shop.example"]
leads = ["olga@shop.example"]

[environments.development]
tier = "development"
url = "http://127.0.0.1:18701"
target = { kind = "local", port = 18701 }
promotion = "auto"
strategy = "restart"

[environments.staging]
tier = "staging"
url = "http://127.0.0.1:18702"
target = { kind = "local", port = 18702 }
promotion = "auto"
after_deploy = []

[environments.staging.gates.smoke]
kind = "command"
run = "true"

[environments.staging.gates.signoff]
kind = "approval"
required = 1
reviewers = ["group:qa"]

[environments.production]
tier = "production"
url = "http://127.0.0.1:18703"
target = { kind = "local", port = 18703 }
promotion = "manual"
watch = 30

[environments.production.access]
promote = ["group:leads"]
"""


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state store migrated to the newest schema, once per session, to copy."""
    path = tmp_path_factory.mktemp("template") / "state.db"
    Store.open(f"sqlite:///{path}").close()
    return path


@dataclass
class World:
    """One workspace: its session (fake targets injected), the fakes, the pipeline file."""

    session: Session
    fakes: FakeTargets
    root: Path

    @property
    def store(self) -> Store:
        return self.session.store

    def write_pipeline(self, text: str) -> None:
        (self.root / "stageline.toml").write_text(text)

    def artifact(self, version: str, *, tag: str | None = None) -> ArtifactRecord:
        """A stored artifact (a manifest and no files) and its record, as a build leaves."""
        tag = tag if tag is not None else f"v{version}"
        manifest = Manifest(
            service=ServiceInfo(
                name="shop", version=version, kind="package",
                start="serve --port {port}", health="/healthz", release="migrate",
            ),
            source=SourceInfo(
                ref=tag, tag=tag, commit="c0ffee" * 6 + "abcd", commit_time="2026-01-01T00:00:00Z"
            ),
            python=PythonInfo(implementation="cpython", version="3.11", platform="linux_x86_64"),
            pins=[], pinned_from="uv.lock", files=[],
        )  # fmt: skip
        raw = manifest.canonical_json()
        digest = manifest.digest
        folder = self.session.artifacts.path_for(digest)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / MANIFEST_NAME).write_bytes(raw)
        record = ArtifactRecord(
            digest=digest, service="shop", version=version, tag=tag, ref=tag,
            commit=manifest.source.commit, commit_time=datetime(2026, 1, 1, tzinfo=UTC),
            built_at=datetime.now(UTC), built_by=ACTOR, host="test", size_bytes=len(raw),
            path=str(folder),
        )  # fmt: skip
        self.store.add_artifact(record)
        return record

    def events(self, kind: str) -> list[dict[str, object]]:
        """The data of every audit event of ``kind``, oldest first."""
        found = [e for e in self.store.events(limit=1000) if e.kind == kind]
        return [dict(e.data or {}) for e in sorted(found, key=lambda e: e.id)]


@pytest.fixture
def world(tmp_path: Path, template_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("STAGELINE_HOME", "STAGELINE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAGELINE_USER", ACTOR)
    root = tmp_path / "shop"
    home = root / ".stageline"
    home.mkdir(parents=True)
    shutil.copy(template_store, home / "state.db")
    (root / "stageline.toml").write_text(PIPELINE)
    fakes = FakeTargets()
    workspace = Workspace(root, home)
    store = Store.open(workspace.state_url)
    session = Session(
        workspace, store, ArtifactStore(workspace.artifacts), target_kinds={"local": fakes}
    )

    def rolled_back(ref: DeploymentId, reason: str) -> None:  # what the agent records
        record = next(d for d in store.deployments(limit=1000) if d.id == ref.id)
        settle(store, record.environment, ref.id, "rolled_back", reason)

    fakes.on_rolled_back = rolled_back
    yield World(session, fakes, root)
    session.close()


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)
