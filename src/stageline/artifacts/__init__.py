"""Build once, store by digest, verify before use, install offline.

An artifact is an immutable folder ``<store>/<hex digest>/`` holding ``wheels/`` (the
service wheel and every dependency wheel: a complete offline wheelhouse), ``app/`` (an
application tree without packaging metadata), ``bundle/`` (declared non-package files)
and ``manifest.json``, whose sha256 is the digest.
"""

from stageline.artifacts.build import BuildResult, build
from stageline.artifacts.install import install
from stageline.artifacts.manifest import (
    FileEntry,
    Manifest,
    Pin,
    PythonInfo,
    ServiceInfo,
    SourceInfo,
)
from stageline.artifacts.store import ArtifactStore, StoredArtifact
from stageline.artifacts.tree import verify_tree

__all__ = [
    "ArtifactStore",
    "BuildResult",
    "FileEntry",
    "Manifest",
    "Pin",
    "PythonInfo",
    "ServiceInfo",
    "SourceInfo",
    "StoredArtifact",
    "build",
    "install",
    "verify_tree",
]
