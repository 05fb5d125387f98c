"""The artifact manifest: what was built, from what, and every file's hash.

The manifest holds only facts about the *content* (no build time, no host, no absolute
paths), so the same commit built twice gives the same bytes and the same digest. The
digest is ``sha256:`` + the sha256 of the canonical JSON (sorted keys, compact
separators, UTF-8), which is exactly what ``manifest.json`` holds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
DIGEST_PREFIX = "sha256:"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: the keys of ``ServiceInfo`` the build adds; every other key is the ``[service]`` section
BUILD_KEYS = frozenset({"version", "kind", "wheel"})
#: the keys an artifact built before sections were frozen whole carries
OLD_SECTION_KEYS = ("name", "start", "health", "release", "bundle", "build")


class ServiceInfo(BaseModel):
    """The effective ``[service]`` section the artifact was built with (every key of the
    model, frozen: deploys use it, not the pipeline file), plus its kind and version.

    Keys beyond the ones named here (``lock``, ``root``, ``python``, and whatever later
    versions add to ``Service``) are kept as extra keys, so nothing of the section is lost.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    version: str
    kind: Literal["package", "app"]
    start: str
    health: str
    release: str | None = None
    bundle: list[str] = Field(default_factory=list)
    build: list[str] = Field(default_factory=list)
    #: file name of the service's own wheel in ``wheels/`` (a package); None for an app tree
    wheel: str | None = None
    #: process types beside ``web`` (name -> command) and folders kept per environment
    #: (``[service] processes`` and ``persist``); left out of the canonical JSON when
    #: empty, so an artifact without them keeps the digest it always had
    processes: dict[str, str] = Field(default_factory=dict)
    persist: list[str] = Field(default_factory=list)

    def section(self) -> dict[str, Any]:
        """The ``[service]`` section as frozen (JSON values); an artifact built before
        sections were frozen whole carries only :data:`OLD_SECTION_KEYS`."""
        data = self.model_dump(mode="json")
        return {key: value for key, value in data.items() if key not in BUILD_KEYS}

    def get(self, key: str, default: Any = None) -> Any:
        """One key of the frozen section (``default`` when the build did not record it)."""
        return self.section().get(key, default)


class SourceInfo(_Frozen):
    """Where the artifact came from: the ref asked for, its tag, commit and commit time."""

    ref: str
    tag: str | None
    commit: str
    commit_time: str  # ISO 8601, UTC, e.g. "2024-05-01T12:00:00Z"
    #: set only for a build of a commit rather than a tag (``review open``): the branch
    #: whose head it was, else the commit itself; such an artifact enters only review
    #: environments (``decisions.policy.commit_holds``); None for a tag's build
    branch: str | None = None

    @property
    def from_commit(self) -> bool:
        """Built from a branch head or a commit (``review open``), not from a tag."""
        return self.branch is not None


class PythonInfo(_Frozen):
    """The interpreter the wheelhouse was made for."""

    implementation: str  # "cpython"
    version: str  # "3.11"
    platform: str  # "linux_x86_64"


class Pin(_Frozen):
    name: str  # normalized (PEP 503)
    version: str
    #: None for a package from an index; ``"workspace member"`` or ``"local path"`` for a
    #: project of the commit itself, built into the wheelhouse (``uvlock.py``)
    source: Literal["workspace member", "local path"] | None = None

    def __str__(self) -> str:
        return f"{self.name}=={self.version}" + (f" ({self.source})" if self.source else "")


class FileEntry(_Frozen):
    """One file of an artifact; a symbolic link (kept inside the tree) carries its text in
    ``link``, and ``sha256``/``size`` are those of that text."""

    path: str  # posix, relative to the artifact folder
    sha256: str
    size: int
    link: str | None = None


class Manifest(_Frozen):
    """Everything an artifact is; its canonical JSON is what the digest is taken of."""

    schema_version: int = SCHEMA_VERSION
    service: ServiceInfo
    source: SourceInfo
    python: PythonInfo
    pins: list[Pin]
    #: the lock file the pins came from ("uv.lock", "requirements.txt", ...);
    #: None means the dependencies were freshly resolved (unpinned)
    pinned_from: str | None
    files: list[FileEntry]
    #: where the ``service`` section came from: the built commit's own pipeline file
    #: (``"commit"``) or the operator's (``"pipeline file"``); None: built before the
    #: section was frozen whole (it holds only the keys of :data:`OLD_SECTION_KEYS`)
    service_from: Literal["commit", "pipeline file"] | None = None
    #: the pinned packages the lock did not pin: resolved at build time (every one of
    #: them without a lock), so a rebuild of the same commit may pick other versions
    resolved_at_build: list[str] = Field(default_factory=list)

    def canonical_json(self) -> bytes:
        data = self.model_dump(mode="json")
        for entry in data["files"]:  # a regular file's entry reads as before links existed
            if entry["link"] is None:
                del entry["link"]
        for pin in data["pins"]:  # likewise an index package's pin
            if pin["source"] is None:
                del pin["source"]
        for key, empty in (("service_from", None), ("resolved_at_build", [])):
            if data[key] == empty:  # an older manifest's bytes (and digest) stay the same
                del data[key]
        if data["source"]["branch"] is None:  # likewise for a tag's build
            del data["source"]["branch"]
        for key in ("processes", "persist"):  # likewise for a service without them
            if not data["service"][key]:
                del data["service"][key]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")

    @property
    def digest(self) -> str:
        return digest_of_bytes(self.canonical_json())


def digest_of_bytes(data: bytes) -> str:
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def parse_manifest(data: bytes) -> Manifest:
    return Manifest.model_validate_json(data)
