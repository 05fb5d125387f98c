"""Placeholders of ``http`` gate steps, expected statuses and step validation (pure)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from stageline.gates.http import Step, judge
from stageline.gates.placeholders import Values, first_problem, placeholders, render

SECRETS = {"ADMIN_PASSWORD": "s3cret-value-1"}
VARIABLES = {"APP_ENV": "staging"}


def steps(*raw: dict[str, Any]) -> list[Step]:
    return [Step.model_validate(step) for step in raw]


def problem(*raw: dict[str, Any], declared: tuple[str, ...] = ("ADMIN_PASSWORD",)) -> str | None:
    parsed = steps(*raw)
    return first_problem(
        parsed, [s.label() for s in parsed], environment="staging", declared=declared,
        secrets=SECRETS, variables=VARIABLES,
    )  # fmt: skip


def test_placeholders_are_found_in_every_field() -> None:
    step = Step.model_validate(
        {"path": "/u/{run}", "headers": {"A": "{var.APP_ENV}"}, "form": {"p": "{secret.X}"},
         "expect_json": {"id": "{order}"}, "expect_text": "{var.Y}"}
    )  # fmt: skip
    found = set(placeholders(step.templates()))
    assert found == {("run", "run"), ("var", "APP_ENV"), ("secret", "X"),
                     ("captured", "order"), ("var", "Y")}  # fmt: skip


def test_render_sends_values_and_shows_templates() -> None:
    values = Values(SECRETS, VARIABLES, run="r1", captured={"id": 7, "tok": "T" * 20})
    values.public.add("id")
    template = {"path": "/{id}/{run}?env={var.APP_ENV}", "pw": "{secret.ADMIN_PASSWORD}",
                "n": "{id}", "auth": "Bearer {tok}"}  # fmt: skip
    assert render(template, values.actual) == {
        "path": "/7/r1?env=staging",
        "pw": "s3cret-value-1",
        "n": 7,
        "auth": "Bearer " + "T" * 20,
    }  # a whole-string placeholder keeps its JSON type
    assert render(template, values.shown) == {
        "path": "/7/r1?env={var.APP_ENV}",
        "pw": "{secret.ADMIN_PASSWORD}",
        "n": 7,
        "auth": "Bearer {tok}",
    }
    assert values.hidden() == [("ADMIN_PASSWORD", "s3cret-value-1"), ("captured:tok", "T" * 20)]


def test_text_without_placeholders_is_left_alone() -> None:
    values = Values({}, {})
    assert render({"q": "{not a placeholder}", "n": 3}, values.actual) == {
        "q": "{not a placeholder}",
        "n": 3,
    }


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"path": "/{secret.ADMIN_PASWORD}"},
         "step 1 (GET /{secret.ADMIN_PASWORD}): unknown secret {secret.ADMIN_PASWORD} "
         "(staging declares: ADMIN_PASSWORD)"),
        ({"name": "env", "path": "/", "headers": {"E": "{var.APP_ENVV}"}},
         "step 1 (env): unknown variable {var.APP_ENVV} (the service's variables: APP_ENV)"),
        ({"name": "early", "path": "/{token}"},
         "step 1 (early): unknown variable {token} (captured so far: none; "
         "others: {run}, {secret.NAME}, {var.NAME})"),
    ],
)  # fmt: skip
def test_bad_placeholders_name_the_step(step: dict[str, Any], expected: str) -> None:
    assert problem(step) == expected


def test_a_declared_secret_that_is_not_set() -> None:
    found = problem({"path": "/{secret.API_KEY}"}, declared=("ADMIN_PASSWORD", "API_KEY"))
    assert found is not None and "declared but not set in staging" in found
    assert "stageline secrets set staging API_KEY" in found


def test_captures_count_from_the_step_after_they_are_made() -> None:
    login = {"method": "POST", "path": "/login", "capture": {"token": "t"}}
    assert problem(login, {"path": "/me", "headers": {"A": "Bearer {token}"}}) is None
    assert problem({"path": "/me/{token}"}, login) is not None
    assert problem({"path": "/u/{run}", "form": {"p": "{secret.ADMIN_PASSWORD}"}}) is None


def test_expect_status_takes_one_or_a_list() -> None:
    redirect = httpx.Response(303, headers={"Location": "/account"})
    assert judge(Step(path="/", expect_status=[200, 303]), redirect, 1.0) == []
    assert judge(Step(path="/", expect_status=[200, 201]), redirect, 1.0) == [
        "expected status 200 or 201, got 303"
    ]
    assert judge(Step(path="/"), redirect, 1.0) == ["expected status 200, got 303"]


@pytest.mark.parametrize(
    "step",
    [
        {"path": "/", "json": {"a": 1}, "form": {"a": "1"}},
        {"path": "/", "capture": {"t": "token"}, "public": ["token"]},
        {"path": "/", "expect_status": []},
    ],
)
def test_incoherent_steps_are_refused(step: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Step.model_validate(step)
