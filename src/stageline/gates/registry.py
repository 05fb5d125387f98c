"""Gate kinds by name: the built-ins, plus any a plug-in declares.

A package adds a kind through the ``stageline.gates`` entry point group, e.g. in its
pyproject::

    [project.entry-points."stageline.gates"]
    lighthouse = "stageline_lighthouse:LighthouseGate"

The object named is a gate (or a class of gates, instantiated without arguments). A
plug-in cannot replace a built-in kind.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from stageline.errors import StagelineError, UnknownName
from stageline.gates.approval import ApprovalGate
from stageline.gates.base import Gate
from stageline.gates.command import CommandGate
from stageline.gates.http import HttpGate
from stageline.gates.migrations import MigrationsGate
from stageline.gates.parity import ParityGate
from stageline.gates.pii_scan import PiiScanGate
from stageline.gates.pytest_gate import PytestGate
from stageline.gates.side_effects import SideEffectsGate
from stageline.gates.soak import SoakGate

GROUP = "stageline.gates"

BUILTINS: dict[str, Gate] = {
    "http": HttpGate(),
    "pytest": PytestGate(),
    "command": CommandGate(),
    "soak": SoakGate(),
    "approval": ApprovalGate(),
    "side-effects": SideEffectsGate(),
    "migrations": MigrationsGate(),
    "parity": ParityGate(),
    "pii-scan": PiiScanGate(),
}


@functools.cache
def gate_kinds() -> dict[str, Gate]:
    """Every known kind: built-ins, then entry points of the ``stageline.gates`` group.

    Cached; ``gate_kinds.cache_clear()`` rescans (after installing a plug-in in-process).
    """
    kinds = dict(BUILTINS)
    for ep in entry_points(group=GROUP):
        if ep.name in kinds:
            continue
        try:
            loaded: Any = ep.load()
        except Exception as exc:
            raise StagelineError(
                f"gate plug-in {ep.name!r} ({ep.value}) failed to load: {exc}",
                hint="reinstall or uninstall the package that provides it",
            ) from exc
        gate = loaded() if isinstance(loaded, type) else loaded
        if not callable(getattr(gate, "run", None)) or not _is_options(gate):
            raise StagelineError(
                f"gate plug-in {ep.name!r} ({ep.value}) is not a gate: it needs an "
                "Options pydantic model and a run(ctx, options) method"
            )
        kinds[ep.name] = gate
    return kinds


def _is_options(gate: object) -> bool:
    options = getattr(gate, "Options", None)
    return isinstance(options, type) and issubclass(options, BaseModel)


def get_gate(kind: str) -> Gate:
    """The gate of ``kind``; ``UnknownName`` listing the valid kinds if there is none."""
    kinds = gate_kinds()
    if kind not in kinds:
        raise UnknownName(
            "gate kind",
            kind,
            sorted(kinds),
            hint="a plug-in adds kinds through the `stageline.gates` entry point group",
        )
    return kinds[kind]


def parse_options(kind: str, options: dict[str, Any]) -> BaseModel:
    """``options`` validated by the kind's ``Options`` model; raises pydantic's
    ``ValidationError`` unchanged (its locations are relative to the gate's table)."""
    return get_gate(kind).Options.model_validate(options)
