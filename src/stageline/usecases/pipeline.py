"""The use cases, as plain typed functions: the CLI (and later the dashboard) only call these.

A :class:`Session` bundles what every use case needs: the workspace (service root and
``.stageline`` folder), the state store, the artifact store, the pipeline file (read
once), and where each environment runs (:meth:`Session.target`). Open one per command.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from stageline.artifacts import ArtifactStore, Manifest, ServiceInfo, section, source
from stageline.artifacts import build as build_artifact
from stageline.config import Environment, Pipeline, load_pipeline
from stageline.errors import (
    ArtifactNotFound,
    GitError,
    StagelineError,
    TagMoved,
    UsageError,
)
from stageline.host.repo_guard import make_home, refuse_tracked_home
from stageline.host.workspace import Workspace
from stageline.identity import current_actor
from stageline.state import ArtifactRecord, Store
from stageline.targets.base import Target
from stageline.targets.registry import TargetFactory, resolve
from stageline.values import label

Progress = Callable[[str], None]


@dataclass
class Session:
    workspace: Workspace
    store: Store
    artifacts: ArtifactStore
    #: target factories by kind that win over the ``stageline.targets`` entry points
    #: (tests inject ``targets.fake``'s here); empty in production
    target_kinds: Mapping[str, TargetFactory] = field(default_factory=dict, kw_only=True)
    _pipeline: Pipeline | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def open(cls, root: Path, *, targets: Mapping[str, TargetFactory] | None = None) -> Session:
        workspace = Workspace.at(root)
        make_home(workspace.root, workspace.home)
        store = Store.open(workspace.state_url)
        artifacts = ArtifactStore(workspace.artifacts)
        return cls(workspace, store, artifacts, target_kinds=dict(targets or {}))

    def target(self, env: Environment, service: str) -> Target:
        """Where ``env`` runs ``service``: its kind's target (``targets/registry.py``)."""
        return resolve(self.workspace.home, env, service, self.target_kinds)

    def pipeline(self) -> Pipeline:
        """The operator's pipeline file (environments come from here, not the artifact),
        read and validated on the first call and kept for the session: every decision of
        one command judges against the same file, even if it is edited meanwhile."""
        if self._pipeline is None:
            self._pipeline = self.load_pipeline()
        return self._pipeline

    def reload(self) -> Pipeline:
        """Read the pipeline file again (after this session wrote it, say) and keep that."""
        self._pipeline = None
        return self.pipeline()

    def load_pipeline(self) -> Pipeline:
        """Read and validate the pipeline file (subclasses may take it from elsewhere)."""
        return load_pipeline(self.workspace.root)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Built:
    record: ArtifactRecord
    manifest: Manifest
    reused: bool


def build(
    session: Session, ref: str, *, progress: Progress | None = None, commit: bool = False
) -> Built:
    """Build ``ref`` once; a ref that was built before is reused, not rebuilt.

    ``commit``: a commit build for review environments (the manifest records the branch,
    no tag; it never enters the pipeline's environments). Refused while git tracks any
    file under ``.stageline/`` (keys, secrets, state)."""
    repo = _git_toplevel(session.workspace.root)
    refuse_tracked_home(session.workspace.root, session.workspace.home)
    if not commit:
        refuse_moved_tag(session, source.resolve(repo, ref))
    result = build_artifact(
        repo, ref, session.artifacts, progress=progress,
        operator=lambda: session.pipeline().service,
        pipeline_folder=_folder_in(repo, session.workspace.root), commit=commit,
    )  # fmt: skip
    manifest = result.manifest
    known = session.store.get_artifact(result.digest)
    if known is not None:
        return Built(known, manifest, reused=result.reused)
    actor = current_actor()
    record = ArtifactRecord(
        digest=result.digest,
        service=manifest.service.name,
        version=manifest.service.version,
        tag=manifest.source.tag,
        ref=ref,
        commit=manifest.source.commit,
        commit_time=datetime.fromisoformat(manifest.source.commit_time),
        built_at=datetime.now(UTC),
        built_by=actor,
        host=socket.gethostname(),
        size_bytes=result.size_bytes,
        path=str(result.path),
    )
    session.store.add_artifact(record)
    session.store.append_event(
        "artifact.built",
        actor=actor,
        digest=result.digest,
        data={"ref": ref, "version": manifest.service.version, "commit": manifest.source.commit},
    )
    return Built(record, manifest, reused=result.reused)


def refuse_moved_tag(session: Session, src: source.SourceRef) -> None:
    """Raise TagMoved when ``src`` names a tag that an earlier build took from another commit.

    An artifact is found by commit, never by tag name alone: a release tag that moved is
    refused (naming both commits) rather than rebuilt, so one tag never names two builds
    and nobody ships the old one believing it is the new. Refs that are not tags pass.
    """
    if src.tag is None or src.tag != src.ref.removeprefix("refs/tags/"):
        return
    for earlier in session.store.find_artifacts(tag=src.tag):
        if earlier.commit != src.commit:
            raise TagMoved(src.tag, earlier.commit, src.commit, earlier.digest)


def current_source(session: Session, ref: str) -> source.SourceRef | None:
    """What ``ref`` names in the service's repository now; None outside a repository or
    for a ref git does not know (a version, or a tag of a repository not at hand)."""
    try:
        return source.resolve(_git_toplevel(session.workspace.root), ref)
    except GitError:
        return None


def find_artifact(session: Session, ref: str) -> ArtifactRecord:
    """An artifact by digest or digest prefix (``sha256:ab12`` or ``ab12``), by tag
    (``v1.6.0``; a tag names one commit, so the newest build of it wins), or by package
    version (``1.6.0``) when exactly one build has it: a version that names several
    builds (two tags of one version) is refused, listing them (:func:`one_build`)."""
    if ref.startswith("sha256:") or _looks_hex(ref):
        prefix = ref if ref.startswith("sha256:") else f"sha256:{ref}"
        matches = session.store.find_artifacts(digest_prefix=prefix)
        one_build(ref, matches, hint="give more digest characters")
    else:
        matches = session.store.find_artifacts(tag=ref)
        if not matches:
            matches = [a for a in session.store.list_artifacts() if a.version == ref]
            one_build(ref, matches, hint="name the release by its tag or digest")
    if not matches:
        raise ArtifactNotFound(ref)
    return matches[0]


def named(ref: str, artifacts: Iterable[ArtifactRecord]) -> list[ArtifactRecord]:
    """The ``artifacts`` ``ref`` names, as :func:`find_artifact` reads a name: a digest or
    its prefix, else a tag, else a package version (pure)."""
    if ref.startswith("sha256:") or _looks_hex(ref):
        prefix = ref if ref.startswith("sha256:") else f"sha256:{ref}"
        return [a for a in artifacts if a.digest.startswith(prefix)]
    listed = list(artifacts)
    return [a for a in listed if a.tag == ref] or [a for a in listed if a.version == ref]


def one_build(ref: str, matches: list[ArtifactRecord], *, hint: str) -> None:
    """UsageError listing every build (tag and digest) when ``matches`` holds more than one
    digest: a name that means several releases is never resolved silently (pure)."""
    builds = {m.digest: m for m in matches}
    if len(builds) > 1:
        shown = ", ".join(f"{m.name} ({label(m.digest)})" for m in list(builds.values())[:10])
        raise UsageError(f"{ref!r} names {len(builds)} builds: {shown}", hint=hint)


def show_artifact(session: Session, ref: str) -> tuple[ArtifactRecord, Manifest]:
    record = find_artifact(session, ref)
    if not session.artifacts.has(record.digest):
        raise ArtifactNotFound(ref)
    _, manifest = session.artifacts.load(record.digest)
    return record, manifest


def stored_manifest(session: Session, digest: str) -> Manifest | None:
    """The manifest of a stored artifact; None when it is not in the store or unreadable
    (``artifact verify`` is the place that says why)."""
    if not session.artifacts.has(digest):
        return None
    try:
        return session.artifacts.load(digest)[1]
    except (ValueError, OSError, StagelineError):
        return None


def frozen_service(session: Session, digest: str) -> ServiceInfo | None:
    """The ``[service]`` section ``digest`` was built with (None: not at hand)."""
    manifest = stored_manifest(session, digest)
    return manifest.service if manifest else None


def service_drift(session: Session, digest: str) -> str | None:
    """One line saying what of the pipeline file's ``[service]`` differs from the section
    ``digest`` was built with, and how to take it (``section.drift``); None: nothing does,
    or the artifact is not at hand."""
    manifest = stored_manifest(session, digest)
    return section.drift(session.pipeline().service, manifest) if manifest else None


def verify_artifact(session: Session, ref: str) -> ArtifactRecord:
    """Recompute every file's hash; raises ArtifactTampered naming each difference."""
    record = find_artifact(session, ref)
    if not session.artifacts.has(record.digest):
        raise ArtifactNotFound(ref)
    session.artifacts.verify(record.digest)
    return record


def list_artifacts(session: Session) -> list[ArtifactRecord]:
    return session.store.list_artifacts()


def _folder_in(repo: Path, root: Path) -> str:
    """``root`` as a posix path from the top of ``repo`` ("" for the top itself)."""
    try:
        relative = root.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return ""
    return "" if relative == "." else relative


def _looks_hex(text: str) -> bool:
    return len(text) >= 6 and all(c in "0123456789abcdef" for c in text)


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout.strip()


def _git_toplevel(root: Path) -> Path:
    try:
        return Path(_git(root, "rev-parse", "--show-toplevel"))
    except GitError:
        raise GitError(
            f"{root} is not inside a git repository",
            hint="stageline builds from git refs: `git init`, commit, and tag a release",
        ) from None
