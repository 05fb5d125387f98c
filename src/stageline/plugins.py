"""Plug-ins by name: the entry-point groups stageline's own pyproject declares, which a
third party extends the same way (``[project.entry-points."stageline.gates"]``).

Built-ins and third-party plug-ins are found alike, and loaded only when asked for by
name: loading the ``approval`` gate imports ``stageline.gates.approval`` and nothing
else. Where two packages declare the same name, stageline's own wins (a plug-in cannot
replace a built-in), else the first found. Gates (``stageline.gates``) and targets
(``stageline.targets``) are both found here. This module knows entry points, not what a
plug-in is: ``gates.registry`` checks that a loaded object is a gate, and the pipeline
loader asks only for a gate kind's ``Options`` model (:func:`gate_options_model`), so
``config`` validates gate options without importing ``stageline.gates``.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel

from stageline.errors import StagelineError, UnknownName

#: the group of gate kinds (pyproject: ``[project.entry-points."stageline.gates"]``)
GATES = "stageline.gates"
#: the group of target kinds (``targets/registry.py``: each names a target factory)
TARGETS = "stageline.targets"
_OWN = "stageline"
_HINTS = {
    GATES: "a plug-in adds kinds through the `stageline.gates` entry point group",
    TARGETS: 'install the package that provides it, or use kind = "local"',
}
_WHAT = {GATES: "gate kind", TARGETS: "target kind"}


def names(group: str) -> tuple[str, ...]:
    """Every name declared in ``group`` now, sorted (read afresh; nothing is imported)."""
    return tuple(sorted({ep.name for ep in entry_points(group=group)}))


@functools.cache
def declared(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name (stageline's own win a name both declare).

    Cached; :func:`rescan` forgets what was found (after installing a plug-in in-process).
    """
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        kept = found.get(ep.name)
        if kept is None or (_is_own(ep) and not _is_own(kept)):
            found[ep.name] = ep
    return found


def _is_own(ep: EntryPoint) -> bool:
    return ep.dist is not None and ep.dist.name == _OWN


def rescan() -> None:
    """Forget the entry points found so far: the next look-up reads them again."""
    declared.cache_clear()


def entry(group: str, name: str) -> EntryPoint:
    """The entry point ``name`` of ``group``; ``UnknownName`` listing the declared names
    (read again first, in case a plug-in was installed since)."""
    if name not in declared(group):
        rescan()
    found = declared(group)
    if name not in found:
        raise UnknownName(_WHAT.get(group, group), name, sorted(found), hint=_HINTS.get(group))
    return found[name]


@functools.cache
def load(ep: EntryPoint) -> Any:
    """The object ``ep`` names, imported now (a class is instantiated without arguments);
    one instance per entry point."""
    try:
        loaded: Any = ep.load()
    except Exception as exc:
        raise StagelineError(
            f"{'gate ' if ep.group == GATES else ''}plug-in {ep.name!r} ({ep.value}) "
            f"failed to load: {exc}",
            hint="reinstall or uninstall the package that provides it",
        ) from exc
    return loaded() if isinstance(loaded, type) else loaded


def options_model(plugin: object) -> type[BaseModel] | None:
    """``plugin``'s ``Options`` pydantic model, or None if it has none."""
    options = getattr(plugin, "Options", None)
    if isinstance(options, type) and issubclass(options, BaseModel):
        return options
    return None


def gate_options_model(kind: str) -> type[BaseModel]:
    """The ``Options`` model of the gate ``kind`` (its plug-in loaded now).

    Raises ``UnknownName`` for a kind nobody declares, ``StagelineError`` for a plug-in
    that fails to load or declares no ``Options`` model.
    """
    ep = entry(GATES, kind)
    model = options_model(load(ep))
    if model is None:
        raise not_a_gate(ep)
    return model


def not_a_gate(ep: EntryPoint) -> StagelineError:
    """The error for an entry point of ``stageline.gates`` that names no gate."""
    return StagelineError(
        f"gate plug-in {ep.name!r} ({ep.value}) is not a gate: it needs an "
        "Options pydantic model and a run(ctx, options) method"
    )
