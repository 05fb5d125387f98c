"""A full disk is reported as a full disk, with the path, wherever stageline writes.

Two ways a full file system shows up: an ``OSError`` with ``ENOSPC`` (or ``EDQUOT``)
raised in this process, and a child process (pip, uv, a build step) that failed saying so
in its output. Both become ``DiskFull``, never a guess such as "a dependency is missing".
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stageline.errors import DiskFull

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

#: how a child says it: Python's and Rust's error texts, coreutils', uv's "os error 28"
_SAID = re.compile(r"No space left on device|Disk quota exceeded|os error (?:28|122)\b")


def says_disk_full(output: str) -> bool:
    """True when a failed command's output says it ran out of space (pure)."""
    return _SAID.search(output) is not None


@contextmanager
def reported(what: str, where: Path) -> Iterator[None]:
    """Turn an ENOSPC/EDQUOT ``OSError`` raised inside into ``DiskFull`` naming the file it
    failed on (or ``where`` when the error names none)."""
    try:
        yield
    except OSError as error:
        if error.errno not in FULL:
            raise
        raise DiskFull(str(error.filename or where), what) from error
