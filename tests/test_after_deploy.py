"""The pure parts of the after-deploy checks: time budgets inside the watch window, the
first failing check, and the error when nothing could be switched back."""

from __future__ import annotations

import pytest

from stageline.config.model import Environment, Gate
from stageline.errors import DeployFailed
from stageline.targets.base import ServiceStatus, SwitchBack
from stageline.usecases.after_deploy import AfterDeploy, CheckRun, budgets, kept_serving

CHECKS = {"smoke": Gate(kind="http", timeout=60), "orders": Gate(kind="http", timeout=5)}
ENV = Environment.model_validate(
    {"name": "staging", "tier": "staging", "url": "http://127.0.0.1:8603",
     "target": {"port": 8603}}
)  # fmt: skip


def running(strategy: str, watching_for: float) -> ServiceStatus:
    return ServiceStatus(
        "staging", "sha256:x", "running", True, 1, 8603, 0, None,
        strategy=strategy,  # type: ignore[arg-type]
        watching_for=watching_for,
    )  # fmt: skip


def test_blue_green_checks_end_before_the_watch_window_with_room_to_switch_back() -> None:
    cut = budgets(CHECKS, running("blue-green", 30.0))
    assert {name: gate.timeout for name, gate in cut.items()} == {"smoke": 28, "orders": 5}
    assert budgets(CHECKS, running("blue-green", 0.5))["smoke"].timeout == 1


def test_restart_keeps_the_gates_own_timeouts() -> None:
    assert budgets(CHECKS, running("restart", 0.0)) == CHECKS


def test_without_a_watch_window_there_is_no_switch_back_to_leave_time_for() -> None:
    assert budgets(CHECKS, running("blue-green", 0.0)) == CHECKS


def test_the_first_failing_check_in_configured_order_is_the_reason() -> None:
    outcome = AfterDeploy(
        (
            CheckRun("smoke", "passed", "4 request(s) as expected"),
            CheckRun("orders", "error", "timed out after 5s (stopped)"),
        )
    )
    assert outcome.failed == outcome.checks[1]
    assert outcome.reason == "after-deploy check `orders` error: timed out after 5s (stopped)"
    assert AfterDeploy((CheckRun("smoke", "passed", "ok"),)).reason == ""


def test_a_release_that_could_not_be_switched_away_is_an_error_that_says_it_serves() -> None:
    failed = (CheckRun("smoke", "failed", "GET /x: expected status 200, got 500"),)
    kept_serving(ENV, "1.9.0", None)
    kept_serving(ENV, "1.9.0", AfterDeploy((CheckRun("smoke", "passed", "ok"),)))
    kept_serving(ENV, "1.9.0", AfterDeploy(failed, SwitchBack(True)))
    with pytest.raises(DeployFailed) as caught:
        kept_serving(ENV, "1.9.0", AfterDeploy(failed, SwitchBack(False, "no earlier release")))
    assert str(caught.value) == (
        "1.9.0 in staging: after-deploy check `smoke` failed: GET /x: expected status 200, "
        "got 500; it keeps serving: no earlier release"
    )
    assert caught.value.hint == "deploy a fix, or `stageline rollback staging`"
