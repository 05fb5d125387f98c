"""Which environment: the resolution table, and that nothing unknown becomes production."""

from __future__ import annotations

import dataclasses

import pytest

from stageline import runtime


@pytest.mark.parametrize(
    ("variables", "name", "tier", "known"),
    [
        ({}, "development", "development", True),
        ({"APP_ENV": "staging"}, "staging", "staging", True),
        ({"APP_ENV": "prodution"}, "prodution", "development", False),
        ({"APP_ENV": "PRODUCTION"}, "PRODUCTION", "production", True),
        ({"APP_ENV": "prod"}, "prod", "production", True),
        ({"APP_ENV": "Stage"}, "Stage", "staging", True),
        ({"APP_ENV": "test"}, "test", "testing", True),
        ({"APP_ENV": "dev"}, "dev", "development", True),
        ({"APP_ENV": ""}, "development", "development", True),
        ({"APP_ENV": "uat"}, "uat", "development", False),
        ({"STAGELINE_ENVIRONMENT": "staging", "APP_ENV": "production"}, "staging", "staging", True),
        ({"STAGELINE_ENVIRONMENT": "uat", "STAGELINE_TIER": "staging"}, "uat", "staging", True),
        ({"STAGELINE_ENVIRONMENT": "production", "STAGELINE_TIER": "staging"}, "production",
         "staging", True),
        ({"STAGELINE_ENVIRONMENT": "live", "STAGELINE_TIER": "production"}, "live",
         "production", True),
        ({"STAGELINE_ENVIRONMENT": "live", "STAGELINE_TIER": "prodution"}, "live",
         "development", False),
        ({"APP_ENV": "staging", "STAGELINE_TIER": "bogus"}, "staging", "staging", True),
    ],
)  # fmt: skip
def test_resolution(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], name: str, tier: str, known: bool
) -> None:
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    env = runtime.current()
    assert env == runtime.Environment(name, tier, known)
    assert env.is_production is (tier == "production")
    assert runtime.is_production() is (tier == "production")


def test_environment_is_frozen() -> None:
    env = runtime.current()
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.tier = "production"  # type: ignore[misc]


def test_current_reads_a_given_mapping() -> None:
    assert runtime.current({"APP_ENV": "prod"}).is_production
