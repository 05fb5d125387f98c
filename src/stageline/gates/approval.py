"""Kind ``approval``: people sign off on the release.

Approvals are recorded by ``stageline approve`` and counted by the sign-off policy for
the digest they were given for; this kind only declares the rule. Running it is a no-op
(``passed``) so that a pipeline that runs every gate does not trip over it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import Field, ValidationInfo, field_validator

from stageline.gates.base import GateContext, GateOptions, GateResult

_GROUP = re.compile(r"^group:\S+$")


class ApprovalOptions(GateOptions):
    """``required`` approvals from ``reviewers``. ``required`` may not exceed the people
    listed (emails, and the members of each group when validated with
    ``context={"groups": ...}``, as the loader does): such a rule could never pass."""

    #: who may approve: emails or ``group:NAME`` (``[people.groups]``); empty means anyone
    reviewers: list[str] = Field(default_factory=list)
    required: int = Field(default=1, ge=1)
    self_approval: bool = False

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (_GROUP.match(item) or re.match(r"^[^@\s]+@[^@\s]+$", item)):
                raise ValueError(f"expected an email or 'group:NAME', got {item!r}")
        return value

    @field_validator("required")
    @classmethod
    def _reachable(cls, value: int, info: ValidationInfo) -> int:
        people = _people(info.data.get("reviewers") or [], (info.context or {}).get("groups"))
        if people is not None and value > len(people):
            raise ValueError(
                f"{value} approvals are required but only {len(people)} "
                f"reviewer{'s are' if len(people) != 1 else ' is'} listed: "
                f"{', '.join(sorted(people)) or 'none'}"
            )
        return value


def _people(reviewers: list[str], groups: Mapping[str, list[str]] | None) -> set[str] | None:
    """The distinct people ``reviewers`` names; None when that cannot be known (anyone
    may approve, or a group whose members were not given)."""
    if not reviewers:
        return None
    people: set[str] = set()
    for item in reviewers:
        if not item.startswith("group:"):
            people.add(item)
        elif groups is not None and item.removeprefix("group:") in groups:
            people.update(groups[item.removeprefix("group:")])
        else:
            return None
    return people


class ApprovalGate:
    Options = ApprovalOptions

    def run(self, ctx: GateContext, options: ApprovalOptions) -> GateResult:
        ApprovalOptions.model_validate(options)
        return GateResult("passed", "approvals are counted at promotion", 0.0, {})
