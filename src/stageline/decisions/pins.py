"""Pinned gates: the gate configuration that evidence was produced under, and what changed.

Each ``verify`` stores, with every gate run, the :class:`GatePin` of its environment at
that moment: one sha256 per *part* of the configuration the sign-off depends on, and the
sha256 of them all. A sign-off compares the pin of its evidence with the pin of the
pipeline file as it reads now; any difference holds the release and is named part by
part ("gate `migrations` removed"). Pure: the pipeline model in, digests and words out.

The parts (keys of :attr:`GatePin.parts`)::

    gate:NAME     every gate of the environment, approval gates included (its kind and
                  every option, as canonical JSON)
    ttl_hours     how long a result or an approval counts
    group:NAME    the members of each people group an approval gate names as reviewers

Only names and hashes are kept, never option values: a gate's options may name hosts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stageline.config.model import Environment


@dataclass(frozen=True)
class GatePin:
    """The effective gate configuration of one environment, as digests."""

    #: ``sha256:`` + hex over the canonical JSON of ``parts``
    digest: str
    #: part key (see the module docstring) -> sha256 hex of that part
    parts: Mapping[str, str]


def pin_of(env: Environment, groups: Mapping[str, Sequence[str]]) -> GatePin:
    """The pin of ``env``'s gates, approval rules and the people groups they name."""
    parts: dict[str, str] = {"ttl_hours": _sha(env.ttl_hours)}
    for name, gate in env.gates.items():
        options = gate.model_dump(mode="json")
        parts[f"gate:{name}"] = _sha(options)
        for entry in options.get("reviewers") or ():
            if isinstance(entry, str) and entry.startswith("group:"):
                group = entry.removeprefix("group:")
                members = sorted(m.strip().lower() for m in groups.get(group, ()))
                parts[f"group:{group}"] = _sha(members)
    return pin_from_parts(parts)


def pin_from_parts(parts: Mapping[str, str]) -> GatePin:
    return GatePin("sha256:" + _sha(dict(parts)), dict(parts))


def changes(before: Mapping[str, str], now: Mapping[str, str]) -> tuple[str, ...]:
    """What changed from ``before`` to ``now``, one phrase per part, in a stable order:
    ``gate `smoke` removed``, ``gate `load` added``, ``gate `smoke` changed``."""
    said: list[str] = []
    for key in sorted(set(before) | set(now)):
        if key not in now:
            said.append(f"{_name(key)} removed")
        elif key not in before:
            said.append(f"{_name(key)} added")
        elif before[key] != now[key]:
            said.append(f"{_name(key)} changed")
    return tuple(said)


def _name(key: str) -> str:
    kind, _, name = key.partition(":")
    return f"{kind} `{name}`" if name else f"`{kind}`"


def _sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
