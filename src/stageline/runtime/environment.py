"""Which environment the service runs in, from the variables stageline sets.

The name comes from ``STAGELINE_ENVIRONMENT``, else ``APP_ENV``, else ``development``.
The tier comes from ``STAGELINE_TIER`` when it names a tier, else from the name when the
name is a tier or an alias of one, else it is ``development`` (and ``known`` is False).
Anything unknown or misspelled falls back to development, never to production.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (~5 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping

TIERS = ("development", "testing", "staging", "production")
ALIASES = {"dev": "development", "test": "testing", "stage": "staging", "prod": "production"}


@dataclass(frozen=True)
class Environment:
    """The environment a service runs in: its ``name`` and the ``tier`` it belongs to.

    ``known`` is False when the tier could not be told from the variables, in which
    case the tier is ``development``.
    """

    name: str
    tier: str
    known: bool

    @property
    def is_production(self) -> bool:
        return self.tier == "production"


def current(environ: Mapping[str, str] | None = None) -> Environment:
    """The environment described by ``environ`` (default: ``os.environ``), read afresh."""
    env = os.environ if environ is None else environ
    name = (
        env.get("STAGELINE_ENVIRONMENT", "").strip() or env.get("APP_ENV", "").strip()
    ) or "development"
    tier = env.get("STAGELINE_TIER", "").strip().lower()
    if tier in TIERS:
        return Environment(name, tier, known=True)
    from_name = name.lower()
    from_name = ALIASES.get(from_name, from_name)
    if from_name in TIERS:
        return Environment(name, from_name, known=True)
    return Environment(name, "development", known=False)


def is_production() -> bool:
    """True only when the tier explicitly says production."""
    return current().is_production
