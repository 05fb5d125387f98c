"""Where a service's pipeline keeps its things: the ``.stageline`` folder and the store URL."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    """The service's repository root and its ``.stageline`` folder.

    ``STAGELINE_HOME`` moves the folder; ``STAGELINE_DATABASE_URL`` moves the state store
    from the default SQLite file to a PostgreSQL server shared by a team.
    """

    root: Path
    home: Path

    @classmethod
    def at(cls, root: Path) -> Workspace:
        root = root.resolve()
        home = os.environ.get("STAGELINE_HOME")
        return cls(root=root, home=Path(home).resolve() if home else root / ".stageline")

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def state_url(self) -> str:
        return os.environ.get("STAGELINE_DATABASE_URL") or f"sqlite:///{self.home / 'state.db'}"
