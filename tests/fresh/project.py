"""This checkout's committed tree, as a newcomer's clone would have it."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from stageline.artifacts import untar

CHECKOUT = Path(__file__).resolve().parents[2]


def committed_tree(dest: Path) -> Path:
    """Write this checkout's HEAD (``git archive``: committed files only) into ``dest``."""
    done = subprocess.run(
        ["git", "-C", str(CHECKOUT), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
        untar.extract(archive, dest)
    return dest
