"""The ``[data]`` table of the pipeline file: masking rules per table and column.

::

    [data]
    keep = 3                          # snapshots kept as template databases
    key = "env:SHOP_MASKING_KEY"      # optional; default STAGELINE_MASKING_KEY or a key file
    schema_only = ["sessions"]        # tables copied without their rows

    [data.tables.users]
    id = "keep"
    email = "email"                   # a transformer by name...
    nickname = { mask = "constant", value = "someone" }
    born = { mask = "date", days = 180 }
    profile = { mask = "json", keys = { phone = "phone", street = "address" } }

    [data.patterns]                   # by column-name glob, in every table...
    "*email*" = "email"
    "*_id" = "keep"
    "requests.*_ip" = "ip"            # ...or in the tables a glob names (TABLE.COLUMN)

    [data.table_defaults]             # what a table's columns get when nothing else says
    countries = "keep"

Every column of every table in the source must be classified (``keep`` or a
transformer), or the snapshot stops: a column added by a later release is never copied
raw. What covers a column, first match wins (:meth:`DataRules.cover`):

1. its own rule, ``[data.tables.T] column = ...``;
2. a pattern naming tables, ``[data.patterns] "T_GLOB.COLUMN_GLOB"``;
3. a pattern for every table, ``[data.patterns] "COLUMN_GLOB"``;
4. its table's default, ``[data.table_defaults] T = ...``;
5. nothing: the column is unclassified and the snapshot stops.

Globs (``*``, ``?``, ``[abc]``) match whole names, ignoring case. Two patterns of one
level that match a column with different rules are a conflict (the column is not
classified) rather than a silent pick, and a pattern comes before a table default so
that a default never hides a personal column a pattern names. A pattern's column glob
cannot be only ``*`` (that is a table default), and a table default names one table:
no glob classifies whole tables that do not exist yet. This module holds no I/O; it is
imported by the config model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

Mask = Literal[
    "keep",
    "null",
    "redact",
    "constant",
    "hash",
    "email",
    "name",
    "phone",
    "address",
    "text",
    "ip",
    "date",
    "json",
]
#: what may mask a JSON key's value (a leaf transformer producing text)
LeafMask = Literal["null", "redact", "hash", "email", "name", "phone", "address", "text", "ip"]
MASKS: tuple[str, ...] = get_args(Mask)
#: transformers whose outputs differ for different inputs (64+ bits of the HMAC), so a
#: unique or key column stays unique
UNIQUE_SAFE = frozenset({"keep", "hash", "email"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Strict):
    """What one column gets: ``keep`` or a transformer with its options."""

    mask: Mask
    #: the value written by ``constant``
    value: str | None = None
    #: ``date``: shift each value by up to this many days, either way
    days: Annotated[StrictInt, Field(ge=1, le=36500)] = 30
    #: ``json``: key name (at any depth) -> leaf transformer for the value under it
    keys: dict[str, LeafMask] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        return {"mask": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _options_fit(self) -> ColumnRule:
        if self.mask == "constant" and self.value is None:
            raise ValueError("mask 'constant' needs value = '...'")
        if self.mask != "constant" and self.value is not None:
            raise ValueError("value is only used with mask 'constant'")
        if self.mask == "json" and not self.keys:
            raise ValueError("mask 'json' needs keys = { key = 'transformer', ... }")
        if self.mask != "json" and self.keys:
            raise ValueError("keys are only used with mask 'json'")
        return self


class DataRules(_Strict):
    """The ``[data]`` table: snapshot retention, the key's source, and masking rules."""

    keep: Annotated[StrictInt, Field(ge=1, le=50)] = 3
    #: where the masking key comes from: ``env:NAME`` or ``file:PATH``
    key: str | None = Field(default=None, pattern=r"^(env|file):.+$")
    schema_only: list[str] = Field(default_factory=list)
    tables: dict[str, dict[str, ColumnRule]] = Field(default_factory=dict)
    #: ``COLUMN_GLOB`` or ``TABLE_GLOB.COLUMN_GLOB`` -> rule (see the module doc)
    patterns: dict[str, ColumnRule] = Field(default_factory=dict)
    #: table (``name`` or ``schema.name``) -> rule for the columns nothing else covers
    table_defaults: dict[str, ColumnRule] = Field(default_factory=dict)

    @field_validator("patterns")
    @classmethod
    def _no_whole_tables(cls, patterns: dict[str, ColumnRule]) -> dict[str, ColumnRule]:
        for pattern in patterns:
            if not split_pattern(pattern)[1].strip("*?"):
                raise ValueError(
                    f"pattern {pattern!r} matches every column; name the table in "
                    "data.table_defaults instead (a glob may not classify whole tables)"
                )
        return patterns

    @field_validator("table_defaults")
    @classmethod
    def _named_tables(cls, defaults: dict[str, ColumnRule]) -> dict[str, ColumnRule]:
        for table in defaults:
            if any(c in table for c in GLOB_CHARS):
                raise ValueError(
                    f"table default {table!r} is a glob; name each table "
                    "(a default covers columns added later, so it must be chosen per table)"
                )
        return defaults

    def rule(self, table: str, column: str) -> ColumnRule | None:
        """The rule that covers ``table.column`` (``table`` as ``name`` or
        ``schema.name``), or None (unclassified, or patterns in conflict)."""
        return self.cover(table, column).rule

    def cover(self, table: str, column: str) -> Cover:
        """What covers ``table.column`` and which rule said so (see the module doc)."""
        own = self.tables.get(table, {}).get(column)
        if own is not None:
            return Cover(own, f"data.tables.{toml_key(table)}.{toml_key(column)}")
        for scoped in (True, False):
            found = [
                (pattern, rule)
                for pattern, rule in self.patterns.items()
                if (split_pattern(pattern)[0] is not None) == scoped
                and pattern_matches(pattern, table, column)
            ]
            if found:
                return _one_of(found)
        default = self.table_defaults.get(table)
        if default is not None:
            return Cover(default, f"data.table_defaults.{toml_key(table)}")
        return Cover(None, "")

    @property
    def digest(self) -> str:
        """sha256 of the rules' canonical JSON: which rules a snapshot was made under."""
        body: dict[str, Any] = {
            "schema_only": sorted(self.schema_only),
            "tables": {
                table: {col: rule.model_dump(exclude_defaults=True) for col, rule in cols.items()}
                for table, cols in self.tables.items()
            },
        }
        # only when used, so that rules written before they existed keep their digest
        for name, rules in (("patterns", self.patterns), ("table_defaults", self.table_defaults)):
            if rules:
                body[name] = {k: r.model_dump(exclude_defaults=True) for k, r in rules.items()}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


GLOB_CHARS = "*?["


@dataclass(frozen=True)
class Cover:
    """The rule covering one column, and where it is written (``source``, e.g.
    ``data.patterns."*email*"``); ``conflict`` says why no rule covers it when patterns
    disagree. No rule and no conflict: unclassified."""

    rule: ColumnRule | None
    source: str
    conflict: str | None = None


def split_pattern(pattern: str) -> tuple[str | None, str]:
    """``"T.C"`` -> ``("T", "C")``; ``"C"`` -> ``(None, "C")`` (the last dot splits, so
    ``"audit.*.actor"`` names the tables ``audit.*``)."""
    table, dot, column = pattern.rpartition(".")
    return (table, column) if dot else (None, column)


def pattern_matches(pattern: str, table: str, column: str) -> bool:
    """Whether ``pattern`` covers ``table.column``: whole names, case ignored."""
    table_glob, column_glob = split_pattern(pattern)
    if not fnmatchcase(column.casefold(), column_glob.casefold()):
        return False
    return table_glob is None or fnmatchcase(table.casefold(), table_glob.casefold())


def _one_of(found: list[tuple[str, ColumnRule]]) -> Cover:
    """The first of patterns that match one column, or a conflict if their rules differ."""
    first, rule = found[0]
    for other, other_rule in found[1:]:
        if other_rule != rule:
            return Cover(
                None,
                f"data.patterns.{toml_key(first)}",
                f"patterns {first!r} ({rule.mask}) and {other!r} ({other_rule.mask}) "
                "both match; give the column its own rule",
            )
    return Cover(rule, f"data.patterns.{toml_key(first)}")


def toml_key(name: str) -> str:
    """A TOML key as it would be written: bare when it can be, else quoted."""
    bare = name.replace("_", "").replace("-", "").isalnum() and name.isascii()
    return name if bare else json.dumps(name)
