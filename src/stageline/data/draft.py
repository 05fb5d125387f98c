"""Drafted ``[data]`` rules: every column's suggestion, written short, as TOML text.

Pure. :func:`draft` turns one :class:`~stageline.data.suggest.Suggestion` per column into
rules; on a pipeline with no masking rules yet it writes them short: a table whose
columns all look like keys, numbers or labels (none left to review) gets a table
default (``keep``), a few
well-known patterns (``"id"``, ``"*_id"``, ``"*_at"``, ``"*email*"`` ...) cover the
columns they fit, and every other column gets its own line. Under the rules drafted,
every column gets exactly its suggestion (checked). Where rules exist, only the columns
they do not cover are drafted, one line each, so nothing already written changes
meaning.

:func:`merge` puts the drafted block into a pipeline file's text without touching a
line of it: appended at the end, or, for a table that has a ``[data.tables.T]`` section
already, inserted at the end of that section. Each drafted line carries its reason as
a comment; no sampled value is ever part of the text.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

from stageline.config.locate import table_headers
from stageline.data.catalog import Table
from stageline.data.rules import ColumnRule, DataRules, pattern_matches, toml_key
from stageline.data.suggest import Suggestion
from stageline.errors import UsageError

#: patterns a fresh draft may use: (glob, mask, at least this many columns must fit)
PATTERNS: tuple[tuple[str, str, int], ...] = (
    ("id", "keep", 2),
    ("*_id", "keep", 2),
    ("*_at", "keep", 2),
    ("*email*", "email", 1),
    ("*_ip", "ip", 1),
    ("*phone*", "phone", 1),
)
Suggestions = Mapping[tuple[str, str], Suggestion]  # (table key, column) -> suggestion
_HEADER = re.compile(r"^\s*\[")


@dataclass(frozen=True)
class Draft:
    """Rules drafted for ``columns`` column(s); ``lines`` per part, reasons as comments."""

    columns: int
    patterns: list[str] = field(default_factory=list)
    table_defaults: list[str] = field(default_factory=list)
    #: table key -> its drafted ``column = rule  # reason`` lines
    tables: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.columns == 0


def draft(tables: list[Table], suggestions: Suggestions, rules: DataRules) -> Draft:
    """The rules for the columns ``rules`` leave unclassified (all of them when
    ``rules`` has none), short when ``rules`` is empty (see the module doc)."""
    open_ = [
        (t, c)
        for t in tables
        if t.key not in rules.schema_only
        for c in t.columns
        if rules.cover(t.key, c.name).rule is None
    ]
    wanted = {(t.key, c.name): suggestions[t.key, c.name] for t, c in open_}
    if not (rules.tables or rules.patterns or rules.table_defaults):
        return _short(tables, wanted)
    return Draft(len(wanted), tables=_lines(wanted))


def _short(tables: list[Table], wanted: dict[tuple[str, str], Suggestion]) -> Draft:
    """A draft for a pipeline with no rules: table defaults, patterns, then lines."""
    defaults = {
        t.key: ColumnRule(mask="keep")
        for t in tables
        if t.columns and all(_plain_keep(wanted[t.key, c.name]) for c in t.columns)
    }
    patterns: dict[str, ColumnRule] = {}
    counts: dict[str, int] = {}
    for glob, mask, least in PATTERNS:
        rule = ColumnRule.model_validate(mask)
        hits = [key for key in wanted if pattern_matches(glob, *key)]
        fit = [key for key in hits if wanted[key].rule == rule]
        if len(fit) >= least and len(fit) * 2 > len(hits):
            patterns[glob], counts[glob] = rule, len(fit)
    compact = DataRules(patterns=patterns, table_defaults=defaults)
    rest = {key: s for key, s in wanted.items() if compact.cover(*key).rule != s.rule}
    checked = DataRules(
        patterns=patterns,
        table_defaults=defaults,
        tables=_nested({key: s.rule for key, s in rest.items()}),
    )
    assert all(checked.cover(*key).rule == s.rule for key, s in wanted.items())
    return Draft(
        len(wanted),
        patterns=[
            _line(glob, rule, f"covers {counts[glob]} column(s) now")
            for glob, rule in patterns.items()
        ],
        table_defaults=[
            _line(table, rule, "every column looked like a key, a number or a label")
            for table, rule in defaults.items()
        ],
        tables=_lines(rest),
    )


def _plain_keep(suggestion: Suggestion) -> bool:
    return suggestion.rule.mask == "keep" and not suggestion.review


def _nested(flat: dict[tuple[str, str], ColumnRule]) -> dict[str, dict[str, ColumnRule]]:
    nested: dict[str, dict[str, ColumnRule]] = {}
    for (table, column), rule in flat.items():
        nested.setdefault(table, {})[column] = rule
    return nested


def _lines(wanted: Mapping[tuple[str, str], Suggestion]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for (table, column), suggestion in wanted.items():
        lines.setdefault(table, []).append(_line(column, suggestion.rule, suggestion.reason))
    return lines


def _line(key: str, rule: ColumnRule, reason: str) -> str:
    return f"{toml_key(key)} = {render_rule(rule)}  # {reason}"


def render_rule(rule: ColumnRule) -> str:
    """A rule as TOML: ``"keep"``, or an inline table when it has options."""
    options = rule.model_dump(exclude_defaults=True)
    if list(options) == ["mask"]:
        return json.dumps(rule.mask)
    parts = [
        f"{toml_key(name)} = {_value(value)}" for name, value in options.items()
    ]  # mask first: the model's field order
    return "{ " + ", ".join(parts) + " }"


def _value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def merge(text: str, block: Draft, *, prefix: tuple[str, ...], comment: str) -> str:
    """``text`` with ``block`` added and nothing of it changed (see the module doc).

    ``prefix`` is ``("tool", "stageline")`` in a pyproject.toml, else ``()``. A table
    that has rules in ``text`` in another form than a ``[data.tables.T]`` section (an
    inline table) cannot take more lines: refused, naming it."""
    lines = text.splitlines()
    headers = table_headers(text)
    at = {t: headers.get((*prefix, "data", "tables", t)) for t in block.tables}
    for table, index in sorted(((t, i) for t, i in at.items() if i is not None), key=_last):
        lines = _insert(lines, index, block.tables[table])
    head = ".".join((*prefix, ""))
    out = "\n".join(lines).rstrip("\n") + "\n\n" + comment.rstrip("\n") + "\n"
    if block.patterns:
        out += f"[{head}data.patterns]\n" + "\n".join(block.patterns) + "\n\n"
    if block.table_defaults:
        out += f"[{head}data.table_defaults]\n" + "\n".join(block.table_defaults) + "\n\n"
    for table, drafted in block.tables.items():
        if at[table] is None:
            out += f"[{head}data.tables.{toml_key(table)}]\n" + "\n".join(drafted) + "\n\n"
    out = out.rstrip("\n") + "\n"
    try:
        tomllib.loads(out)
    except tomllib.TOMLDecodeError as exc:  # a table written inline cannot take more keys
        raise UsageError(
            f"the drafted rules do not fit into the file as it is written ({exc})",
            hint="write each data.tables table under its own [data.tables.T] header, or "
            "draft into another file with --file PATH",
        ) from exc
    return out


def _last(item: tuple[str, int]) -> int:
    """Sections from the bottom up, so inserting lines moves no header still to do."""
    return -item[1]


def _insert(lines: list[str], start: int, drafted: list[str]) -> list[str]:
    """``drafted`` at the end of the section whose header is line ``start``."""
    end = start + 1
    while end < len(lines) and not _HEADER.match(lines[end]):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return lines[:end] + drafted + lines[end:]
