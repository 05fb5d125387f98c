"""Where an environment's service records the side effects it did not perform.

Outside production the service's ``stageline.runtime`` guard writes each irreversible
call (a charge, an email, a webhook) to the outbox instead of performing it; stageline
points ``STAGELINE_OUTBOX`` at ``.stageline/envs/<env>/outbox.jsonl`` so ``stageline
outbox ENV`` and the ``side-effects`` gate can show what staging would have done. A
``swarm`` environment's containers write to that same file, bind-mounted
(:func:`ensure_outbox` makes it first: a mount needs its source).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def outbox_path(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "outbox.jsonl"


def ensure_outbox(path: Path) -> Path:
    """``path``, made empty (mode 0644, this user's) if missing; ``path`` returned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    return path


def read_outbox(path: Path | str) -> list[dict[str, Any]]:
    """Every record in an outbox, oldest first: a JSON-lines file (a torn last line is
    skipped), or the ``stageline_outbox`` table at a ``postgresql://`` URL (the runtime
    helper's other destination)."""
    from stageline.runtime import outbox as runtime

    if isinstance(path, str) and runtime.is_postgres(path):
        return runtime.read_outbox(path)
    path = Path(path)
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
