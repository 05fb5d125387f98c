"""Kind ``approval``: people sign off on the release.

Approvals are recorded by ``stageline approve`` and counted by the sign-off policy for
the digest they were given for; this kind only declares the rule. Running it is a no-op
(``passed``) so that a pipeline that runs every gate does not trip over it.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from stageline.gates.base import GateContext, GateOptions, GateResult

_GROUP = re.compile(r"^group:\S+$")


class ApprovalOptions(GateOptions):
    required: int = Field(default=1, ge=1)
    #: who may approve: emails or ``group:NAME`` (``[people.groups]``); empty means anyone
    reviewers: list[str] = Field(default_factory=list)
    self_approval: bool = False

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not (_GROUP.match(item) or re.match(r"^[^@\s]+@[^@\s]+$", item)):
                raise ValueError(f"expected an email or 'group:NAME', got {item!r}")
        return value


class ApprovalGate:
    Options = ApprovalOptions

    def run(self, ctx: GateContext, options: ApprovalOptions) -> GateResult:
        ApprovalOptions.model_validate(options)
        return GateResult("passed", "approvals are counted at promotion", 0.0, {})
