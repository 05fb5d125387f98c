"""The parity gate's verdict (pure ``judge``) and how it finds its workspace."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.config.model import ParityAllow
from stageline.gates.parity import ParityGate, ParityOptions, judge
from stageline.gates.registry import get_gate
from stageline.parity.compare import allow_list, compare
from stageline.parity.facts import Facts

DATA = Path(__file__).parents[1] / "parity" / "data"


def facts(name: str) -> Facts:
    return Facts.from_json(json.loads((DATA / f"{name}.json").read_text()))


def test_blocking_drift_fails_with_one_reason_per_difference() -> None:
    staging = facts("staging_pg15")
    staging = replace(staging, variables=tuple(v for v in staging.variables if v != "EMAIL_URL"))
    result = judge(compare(staging, facts("production_pg16")), 0.3)
    assert result.status == "failed"
    assert result.evidence["reasons"] == [
        "postgres version: staging 15.18, production 16.2 (different PostgreSQL major version)",
        "variables EMAIL_URL: staging missing, production set (missing variable name)",
    ]
    assert result.summary.startswith("2 blocking difference(s) from production: postgres")
    assert result.duration == 0.3


def test_allowed_differences_pass_and_stay_in_the_evidence_with_their_reason() -> None:
    allow = allow_list(
        ("staging", [ParityAllow(layer="postgres", key="version", reason="upgrade in January")])
    )
    result = judge(compare(facts("staging_pg15"), facts("production_pg16"), allow), 0.1)
    assert result.status == "passed"
    assert result.summary == "no blocking drift from production, 1 allowed"
    assert result.evidence["allowed"] == [
        {"layer": "postgres", "key": "version", "reason": "upgrade in January", "by": "staging"}
    ]
    json.dumps(result.evidence)  # evidence is stored as JSON


def test_equal_environments_pass_without_warnings() -> None:
    production = facts("production_pg16")
    result = judge(compare(replace(production, environment="staging"), production), 0.1)
    assert (result.status, result.summary) == ("passed", "no blocking drift from production")
    assert result.evidence["warnings"] == [] and result.evidence["reasons"] == []


def test_the_kind_is_built_in_with_strict_options() -> None:
    assert isinstance(get_gate("parity"), ParityGate)
    assert ParityOptions.model_validate({"against": "production"}).against == "production"
    with pytest.raises(ValidationError):
        ParityOptions.model_validate({"agianst": "production"})
