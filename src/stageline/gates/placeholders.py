"""Placeholders in ``http`` gate steps: what they may name, and their two renderings.

A step's strings (path, headers, ``json``/``form`` bodies, expectations) may hold:

=====================  ================================  ================================
placeholder            sent as                           recorded in evidence as
=====================  ================================  ================================
``{secret.NAME}``      the environment's secret NAME     ``{secret.NAME}`` (the template)
``{var.NAME}``         the service's variable NAME       ``{var.NAME}`` (the template)
``{run}``              a value unique to this gate run   the value (also ``evidence.run``)
``{name}``             a value an earlier step captured  ``{name}``; the value if the
                                                         capturing step lists it in
                                                         ``public``
=====================  ================================  ================================

Values are looked up when the gate runs and never stored. :func:`first_problem` checks
every step before any request is sent, so a typo is one line naming the step rather
than a half-run critical path. :func:`render` replaces placeholders through a lookup
function; a string that is exactly one placeholder takes the value with its JSON type
(a captured number stays a number).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from stageline.redact import MIN_SECRET_LENGTH

Kind = Literal["secret", "var", "run", "captured"]

_PLACEHOLDER = re.compile(r"\{(?:(secret|var)\.)?([A-Za-z_][A-Za-z0-9_]*)\}")


class StepFields(Protocol):
    """The parts of a step that placeholders may appear in, and what it captures."""

    @property
    def capture(self) -> dict[str, str]: ...

    def templates(self) -> list[Any]:
        """Every field that may hold placeholders (strings, lists, dicts)."""
        ...


def _kind(prefix: str | None, name: str) -> Kind:
    if prefix == "secret":
        return "secret"
    if prefix == "var":
        return "var"
    return "run" if name == "run" else "captured"


def placeholders(value: Any) -> Iterator[tuple[Kind, str]]:
    """Every (kind, name) placeholder in ``value`` (strings, recursively in lists and dicts)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from placeholders(item)
    elif isinstance(value, str):
        for match in _PLACEHOLDER.finditer(value):
            yield _kind(match.group(1), match.group(2)), match.group(2)


def render(value: Any, lookup: Callable[[Kind, str], Any]) -> Any:
    """``value`` with each placeholder replaced by ``lookup(kind, name)``."""
    if isinstance(value, Mapping):
        return {key: render(item, lookup) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, lookup) for item in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return lookup(_kind(whole.group(1), whole.group(2)), whole.group(2))
    return _PLACEHOLDER.sub(lambda m: str(lookup(_kind(m.group(1), m.group(2)), m.group(2))), value)


def first_problem(
    steps: Sequence[StepFields],
    labels: Sequence[str],
    *,
    environment: str,
    declared: Sequence[str],
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
) -> str | None:
    """The first placeholder in ``steps`` that cannot be resolved, as one line naming the
    step (``labels[i]``) and what exists; None when every one can."""
    captured: set[str] = set()
    for number, (step, label) in enumerate(zip(steps, labels, strict=True), start=1):
        where = f"step {number} ({label})"
        for kind, name in placeholders(step.templates()):
            problem = _unresolvable(kind, name, environment, declared, secrets, variables, captured)
            if problem:
                return f"{where}: {problem}"
        captured.update(step.capture)
    return None


def _unresolvable(
    kind: Kind,
    name: str,
    environment: str,
    declared: Sequence[str],
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
    captured: set[str],
) -> str | None:
    if kind == "secret" and name not in declared:
        listed = ", ".join(sorted(declared)) or "none"
        return f"unknown secret {{secret.{name}}} ({environment} declares: {listed})"
    if kind == "secret" and name not in secrets:
        return (
            f"secret {{secret.{name}}} is declared but not set in {environment} "
            f"(set it with `stageline secrets set {environment} {name}`)"
        )
    if kind == "var" and name not in variables:
        listed = ", ".join(sorted(variables)) or "none"
        return f"unknown variable {{var.{name}}} (the service's variables: {listed})"
    if kind == "captured" and name not in captured:
        known = ", ".join(sorted(captured)) or "none"
        return (
            f"unknown variable {{{name}}} (captured so far: {known}; "
            "others: {run}, {secret.NAME}, {var.NAME})"
        )
    return None


@dataclass
class Values:
    """What placeholders stand for in one gate run (kept in memory, never stored)."""

    secrets: Mapping[str, str]
    variables: Mapping[str, str]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    captured: dict[str, Any] = field(default_factory=dict)
    public: set[str] = field(default_factory=set)

    def actual(self, kind: Kind, name: str) -> Any:
        """The value sent to the service."""
        if kind == "secret":
            return self.secrets[name]
        if kind == "var":
            return self.variables[name]
        return self.run if kind == "run" else self.captured[name]

    def shown(self, kind: Kind, name: str) -> Any:
        """What evidence records: the template, except ``{run}`` and public captures."""
        if kind == "run":
            return self.run
        if kind == "captured" and name in self.public:
            return self.captured[name]
        return f"{{{name}}}" if kind == "captured" else f"{{{kind}.{name}}}"

    def hidden(self) -> list[tuple[str, str]]:
        """(mask name, value) of everything evidence must not show: the secrets, and the
        captured values that are not public (see ``stageline.redact.Redactor``)."""
        pairs = list(self.secrets.items())
        pairs += [
            (f"captured:{name}", str(value))
            for name, value in self.captured.items()
            if name not in self.public and _maskable(value)
        ]
        return pairs


def _maskable(value: Any) -> bool:
    """A captured value long enough to be masked wherever it appears in text (a short one,
    an id like 42, would garble every number; it is still never recorded as captured)."""
    return isinstance(value, str | int | float) and len(str(value)) >= MIN_SECRET_LENGTH
