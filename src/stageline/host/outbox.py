"""Where an environment's service records the side effects it did not perform.

Outside production the service's ``stageline.runtime`` guard writes each irreversible
call (a charge, an email, a webhook) to the outbox instead of performing it; stageline
points ``STAGELINE_OUTBOX`` at ``.stageline/envs/<env>/outbox.jsonl`` so ``stageline
outbox ENV`` and the ``side-effects`` gate can show what staging would have done.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def outbox_path(home: Path, environment: str) -> Path:
    return home / "envs" / environment / "outbox.jsonl"


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """Every record in a JSON-lines outbox, oldest first; a torn last line is skipped."""
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
