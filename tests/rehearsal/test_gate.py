"""The ``migrations`` gate kind: registered, with options validated as the loader does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stageline.gates.migrations import MigrationsOptions, parse_size
from stageline.gates.registry import get_gate, parse_options


def test_registered_with_alembic_defaults() -> None:
    assert type(get_gate("migrations")).__name__ == "MigrationsGate"
    options = parse_options("migrations", {})
    assert isinstance(options, MigrationsOptions)
    assert options.tool == "alembic" and options.upgrade is None  # the tool's own default
    assert options.budgets().size_threshold == 10 * 1024**2


def test_budgets_from_options() -> None:
    options = MigrationsOptions.model_validate({
        "max_stall_ms": 500, "max_stall_ms_per_table": 200, "allow_rewrite": ["orders"],
        "allow_access_exclusive": ["users"], "size_threshold": "512kB",
        "allow_data_loss": ["orders.note"], "lock_timeout_advice_ms": 300,
    })  # fmt: skip
    budgets = options.budgets()
    assert budgets.max_stall_ms == 500 and budgets.max_stall_ms_per_table == 200
    assert budgets.allow_rewrite == {"orders"} and budgets.allow_access_exclusive == {"users"}
    assert budgets.size_threshold == 512 * 1024 and budgets.allow_data_loss == {"orders.note"}
    assert budgets.lock_timeout_ms == 300


@pytest.mark.parametrize(
    "bad",
    [
        {"tool": "flyway"},
        {"tool": "sql"},
        {"tool": "sql", "upgrade_files": ["../up.sql"]},
        {"size_threshold": "ten"},
        {"max_stall_ms": -1},
        {"unknown": 1},
    ],
)
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_options("migrations", bad)


@pytest.mark.parametrize(
    ("text", "size"), [(4096, 4096), ("10MB", 10 * 1024**2), ("1.5kb", 1536), ("7", 7)]
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size
