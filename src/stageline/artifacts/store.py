"""The content-addressed artifact store: ``<root>/<hex digest>/`` folders, never changed.

Layout::

    <root>/<hex>/manifest.json     the canonical manifest; sha256 of these bytes = digest
    <root>/<hex>/wheels/ ...       the files the manifest lists
    <root>/refs/<commit>.<key>     the digest last built from that commit/ref/python
    <root>/.tmp/                   staging folders, renamed into place atomically
"""

from __future__ import annotations

import builtins
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stageline.artifacts.manifest import (
    DIGEST_PREFIX,
    MANIFEST_NAME,
    Manifest,
    digest_of_bytes,
    parse_manifest,
)
from stageline.artifacts.tree import verify_tree
from stageline.errors import ArtifactNotFound, ArtifactTampered, UsageError
from stageline.values import label

_HEX = re.compile(r"^[0-9a-f]{64}$")
_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")


@dataclass(frozen=True)
class StoredArtifact:
    digest: str
    manifest: Manifest
    path: Path


def hex_of(digest: str) -> str:
    """The 64 hex characters of a ``sha256:...`` digest; ArtifactNotFound if malformed."""
    hexpart = digest.removeprefix(DIGEST_PREFIX)
    if not _HEX.match(hexpart):
        raise ArtifactNotFound(digest)
    return hexpart


class ArtifactStore:
    """Immutable artifacts by digest, plus a small index of what each ref built."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        return self.root / hex_of(digest)

    def has(self, digest: str) -> bool:
        return (self.path_for(digest) / MANIFEST_NAME).is_file()

    def load(self, digest: str) -> tuple[str, Manifest]:
        """The digest and manifest of a stored artifact (not verified: see ``verify``)."""
        digest = DIGEST_PREFIX + hex_of(digest)
        path = self.path_for(digest) / MANIFEST_NAME
        if not path.is_file():
            raise ArtifactNotFound(digest)
        return digest, parse_manifest(path.read_bytes())

    def verify(self, digest: str) -> None:
        """Raise ArtifactTampered unless the manifest and every file are as built."""
        digest = DIGEST_PREFIX + hex_of(digest)
        folder = self.path_for(digest)
        if not folder.is_dir():
            raise ArtifactNotFound(digest)
        raw = _read(folder / MANIFEST_NAME)
        if raw is None:
            raise ArtifactTampered(digest, [f"removed: {MANIFEST_NAME}"])
        actual = digest_of_bytes(raw)
        if actual != digest:
            raise ArtifactTampered(digest, [f"changed: {MANIFEST_NAME} (digest {label(actual)})"])
        problems = verify_tree(folder, parse_manifest(raw))
        if problems:
            raise ArtifactTampered(digest, problems)

    def resolve(self, digest_or_prefix: str) -> str:
        """The full digest for a digest, a unique hex prefix (4+ chars), or a tag."""
        wanted = digest_or_prefix.strip().lower().removeprefix(DIGEST_PREFIX)
        if _PREFIX.match(wanted):
            found = [h for h in self._hexes() if h.startswith(wanted)]
            if len(found) > 1:
                raise UsageError(
                    f"{digest_or_prefix!r} matches {len(found)} artifacts",
                    hint="give more characters of the digest",
                )
            if found:
                return DIGEST_PREFIX + found[0]
        tagged = [a for a in self.list() if a.manifest.source.tag == digest_or_prefix.strip()]
        if tagged:
            return tagged[-1].digest
        raise ArtifactNotFound(digest_or_prefix)

    # -- writing -----------------------------------------------------------------------

    def staging_dir(self) -> Path:
        """A fresh empty folder on the store's filesystem, to build an artifact in."""
        (self.root / ".tmp").mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="build-", dir=self.root / ".tmp"))

    def add(self, staged: Path, digest: str) -> Path:
        """Move ``staged`` into place as ``digest``; keep an existing copy if it verifies."""
        target = self.path_for(digest)
        if target.exists() and self._verifies(digest):
            shutil.rmtree(staged)
            return target
        if target.exists():  # damaged: replace it with the fresh, identical build
            trash = Path(tempfile.mkdtemp(prefix="trash-", dir=self.root / ".tmp"))
            target.rename(trash / "old")
            shutil.rmtree(trash, ignore_errors=True)
        try:
            staged.rename(target)
        except OSError:  # built concurrently by someone else
            if not self._verifies(digest):
                raise
            shutil.rmtree(staged)
        return target

    def lookup_ref(self, key: str) -> str | None:
        path = self.root / "refs" / key
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None

    def remember_ref(self, key: str, digest: str) -> None:
        refs = self.root / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        temp = refs / f".{key}.tmp"
        temp.write_text(digest + "\n", encoding="utf-8")
        temp.replace(refs / key)

    def _verifies(self, digest: str) -> bool:
        try:
            self.verify(digest)
        except (ArtifactTampered, ArtifactNotFound):
            return False
        return True

    def _hexes(self) -> builtins.list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _HEX.match(p.name) and p.is_dir())

    def list(self) -> builtins.list[StoredArtifact]:
        """Every stored artifact, oldest commit first (manifests read, not verified)."""
        found = []
        for hexpart in self._hexes():
            raw = _read(self.root / hexpart / MANIFEST_NAME)
            try:
                manifest = parse_manifest(raw) if raw is not None else None
            except ValueError:  # a damaged manifest: `verify` names it
                manifest = None
            if manifest is not None:
                found.append(StoredArtifact(DIGEST_PREFIX + hexpart, manifest, self.root / hexpart))
        return sorted(found, key=lambda a: (a.manifest.source.commit_time, a.digest))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
