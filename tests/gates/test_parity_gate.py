"""The parity gate's verdict (pure ``judge``) and what its context gives it to compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from stageline.config.model import ParityAllow, Pipeline
from stageline.config.resolve import PostgresFacts
from stageline.gates.parity import ParityGate, ParityOptions, judge
from stageline.gates.registry import get_gate
from stageline.parity.compare import allow_list, compare
from stageline.parity.facts import Facts, NotDeployed
from stageline.usecases.gating import GateViews
from tests.gates.conftest import MakeContext, Nowhere

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


def _probe_from_data(names: dict[str, str]) -> Callable[[str], Facts]:
    def probe(environment: str) -> Facts:
        if environment not in names:
            raise NotDeployed(environment)
        return replace(facts(names[environment]), environment=environment)

    return probe


@dataclass(frozen=True)
class ProbedTargets:
    """A target view whose probe answers from the recorded facts in tests/parity/data."""

    probe: Callable[[str], Facts]

    def postgres(self, environment: str) -> PostgresFacts | None:
        return None

    def admin_url(self, environment: str, database: str = "postgres") -> str:
        raise AssertionError("the parity gate opens no database")


def _pipeline() -> Pipeline:
    return Pipeline.model_validate({
        "source": "stageline.toml", "service": {"name": "shop", "start": "true"},
        "environments": [
            {"name": name, "tier": tier, "url": f"http://127.0.0.1:{port}",
             "target": {"port": port}}
            for name, tier, port in (("staging", "staging", 8603),
                                     ("production", "production", 8604))
        ],
    })  # fmt: skip


def test_the_gate_compares_what_its_context_probes(make_context: MakeContext) -> None:
    """Given the pipeline and the targets, the gate needs no workspace at all."""
    pipe = _pipeline()
    probe = _probe_from_data({"staging": "staging_pg15", "production": "production_pg16"})
    views = GateViews(pipe, Nowhere(), ProbedTargets(probe))
    ctx = make_context(environment=pipe.environment("staging"), views=views)
    result = ParityGate().run(ctx, ParityOptions())
    assert result.status == "failed"
    assert result.evidence["against"] == "production"
    assert any("postgres version: staging 15.18, production 16.2" in r
               for r in result.evidence["reasons"])  # fmt: skip


def test_the_gate_passes_when_the_target_runs_nothing(make_context: MakeContext) -> None:
    pipe = _pipeline()
    views = GateViews(pipe, Nowhere(), ProbedTargets(_probe_from_data({"staging": "staging_pg15"})))
    ctx = make_context(environment=pipe.environment("staging"), views=views)
    result = ParityGate().run(ctx, ParityOptions())
    assert (result.status, result.evidence) == ("passed", {"not_deployed": "production"})
    last = make_context(environment=pipe.environment("production"), views=views)
    assert ParityGate().run(last, ParityOptions()).summary == "production is the last environment"
