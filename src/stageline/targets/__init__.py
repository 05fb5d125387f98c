"""Targets: where environments run. ``for_environment`` picks one by the target's kind."""

from __future__ import annotations

from pathlib import Path

from stageline.config.model import Environment
from stageline.errors import UnknownName
from stageline.targets.base import Target

KINDS = ("local",)


def for_environment(home: Path, env: Environment, service: str) -> Target:
    """The target that runs ``env`` (only ``local`` so far; ``ssh`` comes next)."""
    if env.target.kind == "local":
        from stageline.targets.local import LocalTarget

        return LocalTarget(home, env, service)
    raise UnknownName("target kind", env.target.kind, KINDS)


__all__ = ["KINDS", "Target", "for_environment"]
