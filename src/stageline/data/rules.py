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

Every column of every table in the source must be classified (``keep`` or a
transformer), or the snapshot stops: a column added by a later release is never copied
raw. This module holds no I/O; it is imported by the config model.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

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

    def rule(self, table: str, column: str) -> ColumnRule | None:
        """The rule for ``table.column`` (``table`` as ``name`` or ``schema.name``)."""
        return self.tables.get(table, {}).get(column)

    @property
    def digest(self) -> str:
        """sha256 of the rules' canonical JSON: which rules a snapshot was made under."""
        body = {
            "schema_only": sorted(self.schema_only),
            "tables": {
                table: {col: rule.model_dump(exclude_defaults=True) for col, rule in cols.items()}
                for table, cols in self.tables.items()
            },
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
