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
import importlib
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel

from stageline.errors import StagelineError, UnknownName
from stageline.gates.base import AnyGate

GROUP = "stageline.gates"

#: the built-in kinds ("module:class"), each imported the first time it is asked for, so
#: validating a pipeline's gate options imports only the kinds it uses
BUILTINS: dict[str, str] = {
    "http": "stageline.gates.http:HttpGate",
    "pytest": "stageline.gates.pytest_gate:PytestGate",
    "command": "stageline.gates.command:CommandGate",
    "soak": "stageline.gates.soak:SoakGate",
    "approval": "stageline.gates.approval:ApprovalGate",
    "side-effects": "stageline.gates.side_effects:SideEffectsGate",
    "migrations": "stageline.gates.migrations:MigrationsGate",
    "parity": "stageline.gates.parity:ParityGate",
    "pii-scan": "stageline.gates.pii_scan:PiiScanGate",
}


@functools.cache
def _builtin(kind: str) -> AnyGate:
    """The one instance of the built-in ``kind`` (its module imported now)."""
    module, _, name = BUILTINS[kind].partition(":")
    gate: AnyGate = getattr(importlib.import_module(module), name)()
    return gate


@functools.cache
def gate_kinds() -> dict[str, AnyGate]:
    """Every known kind, loaded: built-ins, then entry points of the ``stageline.gates`` group.

    Cached; ``gate_kinds.cache_clear()`` rescans (after installing a plug-in in-process).
    """
    kinds = {kind: _builtin(kind) for kind in BUILTINS}
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


def get_gate(kind: str) -> AnyGate:
    """The gate of ``kind``; ``UnknownName`` listing the valid kinds if there is none.

    A built-in kind imports only its own module; any other name loads every plug-in.
    """
    if kind in BUILTINS:
        return _builtin(kind)
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
