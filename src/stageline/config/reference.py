"""The configuration reference: every key of the pipeline file, read from the models.

:func:`keys` walks the pydantic models the loader validates with (``config.model``'s
:class:`~stageline.config.model.Pipeline` and, for each gate kind, its plug-in's
``Options`` model through ``plugins.gate_options_model``), so a key added to a model is
documented by being added. Each :class:`Key` has its dotted name as people write it
(``service.start``, ``environments.*.gates.*.kind``; a gate kind's options under the
kind: ``http.steps.expect_status``), its type in TOML's words with the model's
constraints, its default, its description and an example line.

A description is the field's ``Field(description=...)``, else the ``#:`` comment written
above the field (the codebase's habit for attribute docs), else, for a table, the first
paragraph of its model's docstring. An example is the field's ``examples``, else its
default when that says something, else its first allowed value.

``stageline check --explain KEY`` prints one key (:func:`explain`); ``stageline check
--reference`` prints :func:`markdown`, which is docs/configuration.md (a test keeps the
committed file equal to it: regenerate with ``stageline check --reference >
docs/configuration.md``).
"""

from __future__ import annotations

import difflib
import enum
import functools
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from stageline.config.loader import _NOT_IN_DEFAULTS, TOP_LEVEL
from stageline.config.model import Gate, Pipeline
from stageline.errors import UsageError
from stageline.plugins import GATES, declared, gate_options_model

#: keys of the models that the file does not spell: set by the loader
IMPLIED = frozenset({"source", "environments.*.name"})


@dataclass(frozen=True)
class Key:
    """One key of the pipeline file."""

    #: dotted, ``*`` for a name people choose (``environments.*.gates.*.kind``)
    key: str
    type: str
    #: ``required``, ``none`` (unset), or the default in TOML
    default: str
    description: str
    #: a TOML line, or "" when nothing useful can be said
    example: str
    #: the part of the reference it belongs to: a top-level table, or ``gate kind NAME``
    section: str

    def matches(self, asked: str) -> bool:
        """Whether ``asked`` names this key: ``*`` stands for any one name
        (``environments.staging.url`` is ``environments.*.url``)."""
        mine, theirs = self.key.split("."), asked.split(".")
        if len(mine) != len(theirs):
            return False
        return all(m in ("*", t) for m, t in zip(mine, theirs, strict=True))


# -- walking the models --------------------------------------------------------------------


def keys(*, own_gates_only: bool = False) -> list[Key]:
    """Every key: the pipeline file's tables in the order the loader knows them, then each
    gate kind's options (``own_gates_only``: stageline's own kinds, as the docs list)."""
    found = [k for k in walk(Pipeline, "", "") if k.key not in IMPLIED]
    order = {name: n for n, name in enumerate(TOP_LEVEL)}
    found.sort(key=lambda k: order.get(k.key.split(".")[0], len(order)))
    for kind in gate_kinds(own_only=own_gates_only):
        model = gate_options_model(kind)
        found.append(_gate_table(kind, model))
        found.extend(walk(model, kind, f"gate kind {kind}"))
    return found


def gate_kinds(*, own_only: bool = False) -> list[str]:
    """The gate kinds declared (``own_only``: stageline's own), sorted."""
    return sorted(
        name
        for name, ep in declared(GATES).items()
        if not own_only or ep.value.startswith("stageline.")
    )


def walk(model: type[BaseModel], prefix: str, section: str) -> Iterator[Key]:
    """The keys of ``model`` under ``prefix``, each table followed by its own keys."""
    for name, info in model.model_fields.items():
        written = info.alias or name
        key = f"{prefix}.{written}" if prefix else written
        here = section or written
        inner, path = _nested(info.annotation)
        found = _key(key, info, model, here, inner if not path else None)
        if model is Pipeline and name == "environments":  # a list here, a table in the file
            path, found = ".*", replace(found, type="table of tables")
        yield found
        if inner is not None:
            yield from walk(inner, key + path, here)
    if model is Gate:
        yield Key(
            f"{prefix}.OPTION",
            "depends on kind",
            "",
            "the options of the gate's kind: see `KIND.OPTION` below (e.g. `http.steps`)",
            "",
            section,
        )


def _nested(annotation: Any) -> tuple[Any, str]:
    """(the model a field holds, how its keys continue the field's: ``""`` for a table or
    an array of tables, ``".*"`` per level of a table of tables), or (None, "")."""
    path = ""
    current = _unwrap(annotation)
    while True:
        origin = get_origin(current)
        if origin is list:
            current = _unwrap(get_args(current)[0])
        elif origin is dict:
            current, path = _unwrap(get_args(current)[1]), path + ".*"
        else:
            break
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current, path
    return None, ""


def _unwrap(annotation: Any) -> Any:
    """``X`` of ``X | None`` and of ``Annotated[X, ...]``."""
    if get_origin(annotation) is Annotated:
        return _unwrap(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _key(key: str, info: FieldInfo, owner: type[BaseModel], section: str, inner: Any) -> Key:
    default = _default(info)
    described = info.description or field_comments(owner).get(_name_in(owner, info, key), "")
    if not described and inner is not None:
        described = _first_paragraph(inner.__doc__)
    written = key.rsplit(".", 1)[-1]
    return Key(
        key=key,
        type=type_text(info.annotation, info.metadata),
        default=default,
        description=" ".join(described.split()),
        example=_example(written, info, default),
        section=section,
    )


def _name_in(owner: type[BaseModel], info: FieldInfo, key: str) -> str:
    for name, field in owner.model_fields.items():
        if field is info:
            return name
    return key.rsplit(".", 1)[-1]


def _gate_table(kind: str, model: type[BaseModel]) -> Key:
    module = sys.modules.get(model.__module__)
    about = _first_paragraph(model.__doc__ if "__doc__" in vars(model) else None)
    return Key(
        kind,
        "gate kind",
        "",
        about or _first_paragraph(module.__doc__ if module else None),
        f'kind = "{kind}"',
        f"gate kind {kind}",
    )


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return " ".join(text.split("\n\n")[0].split())


@functools.cache
def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comment lines written right above each field of ``model``'s class body."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        declared_name = re.match(r"([A-Za-z_]\w*)\s*:", stripped)
        if declared_name and pending:
            found[declared_name.group(1)] = " ".join(pending)
        pending = []
    return found


# -- words for types, defaults, examples ---------------------------------------------------


def type_text(annotation: Any, metadata: list[Any] | None = None) -> str:
    """``annotation`` in TOML's words, with the constraints of ``metadata`` (pure)."""
    extra = list(metadata or [])
    if get_origin(annotation) is Annotated:
        base, *more = get_args(annotation)
        for item in more:
            extra.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        return type_text(base, extra)
    text = _bare_type(annotation)
    limits = _limits(extra)
    return f"{text} ({limits})" if limits else text


def _bare_type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        parts = [type_text(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(parts)
    if origin is Literal:
        return " | ".join(json.dumps(value) for value in get_args(annotation))
    if origin is list:
        return f"array of {_plural(type_text(get_args(annotation)[0]))}"
    if origin is dict:
        return f"table of {_plural(type_text(get_args(annotation)[1]))}"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(json.dumps(member.value) for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    words = {str: "string", bool: "boolean", int: "integer", float: "number", datetime: "datetime"}
    return words.get(annotation, "any") if isinstance(annotation, type) else "any"


def _plural(text: str) -> str:
    simple = {"string": "strings", "integer": "integers", "number": "numbers", "table": "tables"}
    return simple.get(text, text)


def _limits(metadata: list[Any]) -> str:
    said: list[str] = []
    bounds = {
        annotated_types.Ge: ("ge", ">= {}"),
        annotated_types.Gt: ("gt", "> {}"),
        annotated_types.Le: ("le", "<= {}"),
        annotated_types.Lt: ("lt", "< {}"),
        annotated_types.MinLen: ("min_length", "at least {} long"),
        annotated_types.MaxLen: ("max_length", "at most {} long"),
    }
    for item in metadata:
        for kind, (attribute, words) in bounds.items():
            if isinstance(item, kind):
                said.append(words.format(getattr(item, attribute)))
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            said.append(f"matching {pattern}")
    return ", ".join(said)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    return toml_value(value)


def toml_value(value: Any) -> str:
    """``value`` as it is written in TOML (``none``: unset; a table: its keys' defaults)."""
    if value is None:
        return "none"
    if isinstance(value, BaseModel):
        return "(its keys' defaults)"
    if isinstance(value, enum.Enum):
        return json.dumps(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _example(written: str, info: FieldInfo, default: str) -> str:
    if info.examples:
        return f"{written} = {toml_value(info.examples[0])}"
    if default not in ("required", "none", "[]", "{}", "(its keys' defaults)", ""):
        return f"{written} = {default}"
    choices = _unwrap(info.annotation)
    if get_origin(choices) is Literal:
        return f"{written} = {json.dumps(get_args(choices)[0])}"
    return ""


# -- one key, and the whole reference ------------------------------------------------------


def find(asked: str, found: list[Key] | None = None) -> list[Key]:
    """The keys ``asked`` names (``defaults.X`` is ``environments.*.X``, ``[a.b]``'s
    brackets and spaces are ignored); UsageError with the nearest names when none."""
    everything = keys() if found is None else found
    wanted = asked.strip().strip("[]").strip()
    head, _, rest = wanted.partition(".")
    if head == "defaults" and rest and rest.split(".")[0] not in _NOT_IN_DEFAULTS:
        wanted = f"environments.*.{rest}"
    hits = [k for k in everything if k.matches(wanted)]
    gate = re.fullmatch(r"environments\.[^.]+\.gates\.[^.]+\.(.+)", wanted)
    if not hits and gate:  # a gate's option: it is its kind's (``http.steps``)
        hits = [k for k in everything if k.section.startswith("gate kind ")
                and k.key.split(".", 1)[-1] == gate.group(1)]  # fmt: skip
    if hits:
        return hits
    near = difflib.get_close_matches(wanted, [k.key for k in everything], n=5, cutoff=0.5)
    raise UsageError(
        f"the pipeline file has no key {asked!r}",
        hint=("did you mean: " + ", ".join(near)) if near else "see docs/configuration.md",
    )


def explain(asked: str) -> str:
    """What ``stageline check --explain KEY`` prints: each key ``asked`` names, and for a
    table the keys inside it."""
    everything = keys()
    blocks = []
    for key in find(asked, everything):
        lines = [f"{key.key}  ({key.type}; default: {key.default})"]
        if key.description:
            lines.append(f"  {key.description}")
        if key.example:
            lines.append(f"  example: {key.example}")
        inside = [k.key for k in everything if _child_of(k.key, key.key)]
        if inside:
            lines.append("  keys: " + ", ".join(k.rsplit(".", 1)[-1] for k in inside))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _child_of(key: str, parent: str) -> bool:
    rest = key.removeprefix(parent + ".")
    rest = rest.removeprefix("*.") if rest != key else rest
    return rest != key and "." not in rest


def markdown() -> str:
    """docs/configuration.md: every key of stageline's own models, by section."""
    out = [
        "# Configuration reference",
        "",
        "Every key of the pipeline file (`stageline.toml`, or `[tool.stageline]` in",
        "`pyproject.toml`), generated from the models that validate it. Do not edit by hand:",
        "run `stageline check --reference > docs/configuration.md`. One key at a time:",
        "`stageline check --explain service.start`.",
        "",
        "A `*` stands for a name you choose (an environment, a gate, a table). Every",
        "`environments.*` key may also be written once in `[defaults]` for all environments,",
        f"except {', '.join(f'`{k}`' for k in _NOT_IN_DEFAULTS)}. A gate's options are",
        "those of its kind, listed under `gate kind NAME` below (`http.steps.expect_status`",
        'is written `steps = [{ ..., expect_status = 200 }]` in a gate of `kind = "http"`).',
    ]
    section = None
    for key in keys(own_gates_only=True):
        if key.section != section:
            section = key.section
            out += ["", f"## {section}"]
        out += ["", f"### `{key.key}`", ""]
        out.append(f"- type: `{key.type}`")
        shown = f"`{key.default}`" if _is_value(key.default) else key.default
        out.append(f"- default: {shown}")
        if key.example:
            out.append(f"- example: `{key.example}`")
        if key.description:
            out += ["", key.description]
    return "\n".join(out) + "\n"


def _is_value(default: str) -> bool:
    return default not in ("required", "none", "", "(its keys' defaults)")
