"""The ``pii-scan`` gate's allow-list: production values an environment may hold, with why.

::

    allow = [
      { class = "ip", value = "127.0.0.1", reason = "our own smoke requests, from this host" },
      { column = "requests.user_agent", reason = "client software names, not people" },
    ]

A *value* entry (``class`` = ``ip``, ``email`` or ``text``, and the ``value``) lets that
one value be found anywhere: the scan looks up the environment's values without it, and
what it alone accounted for is reported as allowed. A *column* entry
(``TABLE.COLUMN``, the table as ``name`` or ``schema.name``) lets any production value be
found in that column. Each entry needs a reason; allowed findings are reported (table,
column, count, and the entries that allowed them), never hidden. Pure; the gate runs
the scans.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stageline.data.masking import EMAIL_RE
from stageline.data.scan import Finding


class AllowEntry(BaseModel):
    """One allowed value (by class) or column, with its reason."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    value_class: Literal["ip", "email", "text"] | None = Field(default=None, alias="class")
    value: str | None = Field(default=None, min_length=1)
    column: str | None = Field(default=None, pattern=r"^[^.\s]+(\.[^.\s]+)?\.[^.\s]+$")
    reason: str = Field(min_length=3)

    @model_validator(mode="after")
    def _one_kind(self) -> AllowEntry:
        if self.column is not None:
            if self.value_class is not None or self.value is not None:
                raise ValueError("an entry allows a column or a value (class and value), not both")
            return self
        if self.value_class is None or self.value is None:
            raise ValueError(
                "an entry needs column = 'TABLE.COLUMN', or class ('ip', 'email', 'text') and value"
            )
        if self.value_class == "ip":
            try:
                ipaddress.ip_address(self.value)
            except ValueError:
                raise ValueError(f"{self.value!r} is not an IP address") from None
        if self.value_class == "email" and not EMAIL_RE.fullmatch(self.value):
            raise ValueError(f"{self.value!r} is not an e-mail address")
        return self

    @property
    def label(self) -> str:
        """What the entry allows and why, for the report (its value is the operator's
        own, from the pipeline file, never one read from a database)."""
        what = f"column {self.column}" if self.column else f"{self.value_class} {self.value}"
        return f"{what}: {self.reason}"

    def forms(self) -> list[str]:
        """The strings the value appears as in a database (an inet shows a host address
        bare; some stores keep the prefix length)."""
        if self.value is None:
            return []
        if self.value_class != "ip":
            return [self.value]
        address = ipaddress.ip_address(self.value)
        return [str(address), f"{address}/{address.max_prefixlen}"]


@dataclass(frozen=True)
class Allowed:
    """Production values found where an entry allows them."""

    table: str
    column: str
    count: int
    by: tuple[str, ...]  # the entries' labels


def by_column(
    findings: list[Finding], entries: list[AllowEntry]
) -> tuple[list[Finding], list[Allowed]]:
    """``findings`` split into those no column entry covers, and those allowed."""
    rest: list[Finding] = []
    allowed: list[Allowed] = []
    for finding in findings:
        place = f"{finding.table}.{finding.column}"
        labels = tuple(e.label for e in entries if e.column == place)
        if labels:
            allowed.append(Allowed(finding.table, finding.column, finding.count, labels))
        else:
            rest.append(finding)
    return rest, allowed


def by_value(
    findings: list[Finding], real: dict[tuple[str, str], int], labels: tuple[str, ...]
) -> tuple[list[Finding], list[Allowed]]:
    """``findings`` (a scan with every fingerprint) against ``real`` (the same columns
    scanned without the allowed values' fingerprints): what is left is a finding, the
    difference is allowed by ``labels``."""
    left: list[Finding] = []
    allowed: list[Allowed] = []
    for finding in findings:
        count = real.get((finding.table, finding.column), 0)
        if count:
            left.append(Finding(finding.table, finding.column, count))
        if finding.count > count:
            allowed.append(Allowed(finding.table, finding.column, finding.count - count, labels))
    return left, allowed


def summary(allowed: list[Allowed]) -> str:
    """``"allowed: requests.client_ip (3), requests.user_agent (2)"``, or ""."""
    if not allowed:
        return ""
    return "allowed: " + ", ".join(f"{a.table}.{a.column} ({a.count})" for a in allowed)
