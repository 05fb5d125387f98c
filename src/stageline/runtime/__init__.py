"""stageline's runtime helper: the one module a *service* imports.

Standard library only, and small. Three things:

1. Which environment am I in: :func:`current`, :func:`is_production`.
2. Typed settings read once at start-up: :class:`Settings` with the field factories
   :func:`string`, :func:`integer`, :func:`boolean`, :func:`url`, :func:`listing`,
   :func:`secret`; every problem reported at once in a :class:`SettingsError`.
3. The side-effect guard: :func:`side_effect`, :func:`allowed`, :func:`record`,
   :func:`guard`. Outside production an irreversible effect is recorded in the outbox
   (:func:`read_outbox`) instead of happening.

See docs/runtime.md for a service author's guide.
"""

from __future__ import annotations

from stageline.runtime import outbox as _outbox
from stageline.runtime.environment import Environment, current, is_production
from stageline.runtime.guard import Guard, Recorded, allowed, guard, record, side_effect
from stageline.runtime.outbox import read_outbox
from stageline.runtime.settings import (
    REQUIRED,
    Config,
    Secret,
    Settings,
    SettingsError,
    boolean,
    integer,
    listing,
    secret,
    string,
    url,
)

__all__ = [
    "REQUIRED",
    "Config",
    "Environment",
    "Guard",
    "Recorded",
    "Secret",
    "Settings",
    "SettingsError",
    "allowed",
    "boolean",
    "current",
    "guard",
    "integer",
    "is_production",
    "listing",
    "read_outbox",
    "record",
    "reset",
    "secret",
    "side_effect",
    "string",
    "url",
]


def reset() -> None:
    """Clear anything cached in this process (for tests)."""
    _outbox.reset()
