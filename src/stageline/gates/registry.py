"""Gate kinds by name: the built-ins and any a plug-in declares, found alike.

Every kind, built-in or not, is an entry point of the ``stageline.gates`` group; ours are
declared in stageline's pyproject, and a package adds its own the same way::

    [project.entry-points."stageline.gates"]
    lighthouse = "stageline_lighthouse:LighthouseGate"

The object named is a gate (or a class of gates, instantiated without arguments). A kind
is imported the first time it is asked for, so validating a pipeline's gate options
imports only the kinds it uses. A plug-in cannot replace a built-in kind
(``stageline.plugins``).
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint
from typing import Any

from pydantic import BaseModel

from stageline.gates.base import AnyGate
from stageline.plugins import GATES, declared, entry, load, not_a_gate, options_model, rescan


def _gate(ep: EntryPoint) -> AnyGate:
    """The gate ``ep`` names, loaded; ``StagelineError`` if it is not one."""
    gate = load(ep)
    if not callable(getattr(gate, "run", None)) or options_model(gate) is None:
        raise not_a_gate(ep)
    found: AnyGate = gate
    return found


@functools.cache
def gate_kinds() -> dict[str, AnyGate]:
    """Every declared kind, loaded (the entry points read again first).

    Cached; ``gate_kinds.cache_clear()`` rescans (after installing a plug-in in-process).
    """
    rescan()
    return {name: _gate(ep) for name, ep in declared(GATES).items()}


def get_gate(kind: str) -> AnyGate:
    """The gate of ``kind`` (only its own module imported); ``UnknownName`` listing the
    valid kinds if nobody declares it."""
    return _gate(entry(GATES, kind))


def parse_options(kind: str, options: dict[str, Any]) -> BaseModel:
    """``options`` validated by the kind's ``Options`` model; raises pydantic's
    ``ValidationError`` unchanged (its locations are relative to the gate's table)."""
    return get_gate(kind).Options.model_validate(options)
