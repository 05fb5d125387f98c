"""The configuration reference: read from the models, committed in docs, one key on ask."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from stageline.cli import app
from stageline.config import reference
from stageline.config.reference import Key
from stageline.errors import UsageError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
#: the sections whose models live in stageline.config.model: every key there is described
CORE = ("service", "environments", "people", "dashboard", "access")


def test_the_committed_reference_is_the_generated_one() -> None:
    assert DOCS.read_text(encoding="utf-8") == reference.markdown(), (
        "docs/configuration.md is stale: run `stageline check --reference > docs/configuration.md`"
    )


def test_every_key_of_the_core_models_is_described() -> None:
    found = reference.keys()
    assert not [k.key for k in found if k.section in CORE and not k.description]
    assert {"service.start", "environments.*.gates.*.kind", "http.steps.expect_status"} <= {
        k.key for k in found
    }
    assert "source" not in {k.key for k in found}  # set by the loader, never written


class Inner(BaseModel):
    """One entry of a table of tables."""

    size: int = 0


class Extra(BaseModel):
    """A table a branch adds tomorrow."""

    #: how many widgets
    #: (two lines of comment)
    widgets: Annotated[int, Field(ge=1, le=9)] = 2
    mode: Literal["a", "b"] = Field("b", description="the mode", examples=["a"])
    entries: dict[str, Inner] = Field(default_factory=dict)
    name: str | None = None


def test_a_key_added_to_a_model_is_documented_by_being_added() -> None:
    found = {k.key: k for k in reference.walk(Extra, "extra", "extra")}
    assert list(found) == [
        "extra.widgets", "extra.mode", "extra.entries", "extra.entries.*.size", "extra.name",
    ]  # fmt: skip
    assert found["extra.widgets"] == Key(
        "extra.widgets", "integer (>= 1, <= 9)", "2", "how many widgets (two lines of comment)",
        "widgets = 2", "extra",
    )  # fmt: skip
    assert found["extra.mode"].description == "the mode"
    assert found["extra.mode"].example == 'mode = "a"' and found["extra.mode"].type == '"a" | "b"'
    assert found["extra.entries"].type == "table of tables"
    assert (found["extra.name"].type, found["extra.name"].default) == ("string", "none")


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("service.start", "service.start  (string (at least 1 long); default: required)"),
        ("environments.staging.gates.smoke.kind", "environments.*.gates.*.kind  (string"),
        (
            "http.steps.expect_status",
            "http.steps.expect_status  (integer or array of integers; default: 200)",
        ),
        ("defaults.vars", "environments.*.vars  (table of strings; default: {})"),
        ("[environments.production.services.postgres]", "environments.*.services.postgres  ("),
        ("environments.staging.gates.smoke.wait_for_health", "http.wait_for_health  (boolean"),
    ],
)
def test_explain_names_the_key_its_type_and_default(asked: str, named: str) -> None:
    assert reference.explain(asked).startswith(named)


def test_explain_of_a_table_lists_its_keys_and_an_unknown_key_is_refused() -> None:
    shown = reference.explain("service")
    assert "keys: name, start, health, release, bundle" in shown
    with pytest.raises(UsageError, match=r"no key 'service\.strat'") as refused:
        reference.explain("service.strat")
    assert "service.start" in (refused.value.hint or "")


def test_check_explain_needs_no_pipeline_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "-C", str(tmp_path), "--explain", "service.start"])
    assert result.exit_code == 0, result.output
    assert "example: start = " in result.output
