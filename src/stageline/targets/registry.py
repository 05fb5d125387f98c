"""Target kinds by name, from the ``stageline.targets`` entry-point group.

A package adds a kind in its pyproject::

    [project.entry-points."stageline.targets"]
    ssh = "stageline_ssh:SshTarget"

The built-in ``local`` is declared there too (stageline's own pyproject); lookup is
:mod:`stageline.plugins`, as for gates, so a plug-in cannot replace a built-in kind.

The object named is a *target factory*: called as ``factory(home, env, service)`` (the
``.stageline`` folder, the environment's config, the service's name), it returns the
:class:`~stageline.targets.base.Target` of that environment. A class whose constructor
takes those three arguments is one. Entry points are loaded lazily, the first time their
kind is asked for, so a command never imports a target it does not use.

The config model checks a kind against ``plugins.names(plugins.TARGETS)`` without
importing any target code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stageline import plugins
from stageline.errors import StagelineError

if TYPE_CHECKING:
    from stageline.config.model import Environment
    from stageline.targets.base import Target

GROUP = plugins.TARGETS

#: ``factory(home, env, service)``: the target of one environment
TargetFactory = Callable[[Path, "Environment", str], "Target"]


def kind_names() -> tuple[str, ...]:
    """Every declared target kind, sorted (nothing is imported)."""
    return plugins.names(GROUP)


@functools.cache
def factory(kind: str) -> TargetFactory:
    """The factory of ``kind``, its module imported now; ``UnknownName`` naming the
    known kinds when no installed package declares it. Cached per kind
    (``factory.cache_clear()`` rescans after installing a plug-in in-process)."""
    ep = plugins.entry(GROUP, kind)
    try:
        loaded: Any = ep.load()
    except Exception as exc:
        raise StagelineError(
            f"target plug-in {kind!r} ({ep.value}) failed to load: {exc}",
            hint="reinstall or uninstall the package that provides it",
        ) from exc
    if not callable(loaded):
        raise StagelineError(
            f"target plug-in {kind!r} ({ep.value}) is not a target factory: it must be "
            "callable as factory(home, env, service)"
        )
    made: TargetFactory = loaded
    return made


def resolve(
    home: Path,
    env: Environment,
    service: str,
    overrides: Mapping[str, TargetFactory] | None = None,
) -> Target:
    """The target that runs ``env``: its kind's factory from ``overrides`` (tests inject a
    fake there) or else from the entry-point group."""
    kind = env.target.kind
    make = overrides[kind] if overrides and kind in overrides else factory(kind)
    return make(home, env, service)
