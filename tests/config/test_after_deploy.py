"""``after_deploy``: which gates run after every switch; bad names say file:line: key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config import load_pipeline
from tests.config.test_loader import GATES, VALID, issues_of, write

SECOND_HTTP = """
[environments.staging.gates.orders]
kind = "http"
steps = [{ method = "POST", path = "/orders", expect_status = 201 }]
"""


def with_key(setting: str, where: str = "[environments.staging]\n") -> str:
    text = VALID + GATES + SECOND_HTTP
    return text.replace(where, f"{where}{setting}\n", 1)


def test_unset_runs_every_http_gate_of_the_environment_in_order(tmp_path: Path) -> None:
    pipeline = load_pipeline(write(tmp_path, VALID + GATES + SECOND_HTTP))
    staging = pipeline.environment("staging")
    assert staging.after_deploy is None
    assert list(staging.after_deploy_checks) == ["smoke", "orders"]  # not the approval
    assert pipeline.environment("production").after_deploy_checks == {}


def test_named_gates_run_in_the_order_written(tmp_path: Path) -> None:
    staging = load_pipeline(
        write(tmp_path, with_key('after_deploy = ["orders", "smoke"]'))
    ).environment("staging")
    assert list(staging.after_deploy_checks) == ["orders", "smoke"]


def test_an_empty_list_turns_the_checks_off(tmp_path: Path) -> None:
    staging = load_pipeline(write(tmp_path, with_key("after_deploy = []"))).environment("staging")
    assert staging.after_deploy == [] and staging.after_deploy_checks == {}


def test_defaults_apply_to_every_environment(tmp_path: Path) -> None:
    text = with_key("after_deploy = []", where="[defaults]\n")
    pipeline = load_pipeline(write(tmp_path, text))
    assert all(env.after_deploy_checks == {} for env in pipeline.environments)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            'after_deploy = ["smoke", "smok"]',
            "environments.staging.after_deploy: no gate named 'smok' here; "
            "http gates: smoke, orders",
        ),
        (
            'after_deploy = ["signoff"]',
            "environments.staging.after_deploy: gate 'signoff' is of kind 'approval'; "
            "only http gates run after a deploy",
        ),
        ('after_deploy = ["smoke", "smoke"]', "after_deploy: a gate is named twice"),
        ('after_deploy = "smoke"', "environments.staging.after_deploy: expected a list"),
    ],
    ids=["unknown gate", "not http", "twice", "not a list"],
)
def test_bad_values_name_file_line_and_key(tmp_path: Path, setting: str, message: str) -> None:
    text = with_key(setting)
    line = text.splitlines().index(setting) + 1
    issues = issues_of(tmp_path, text)
    path = str(tmp_path / "stageline.toml")
    assert any(i.startswith(f"{path}:{line}: ") and message in i for i in issues), issues


def test_a_gate_named_in_defaults_must_exist_in_every_environment(tmp_path: Path) -> None:
    text = with_key('after_deploy = ["smoke"]', where="[defaults]\n")
    issues = issues_of(tmp_path, text)
    assert any("environments.development.after_deploy: no gate named 'smoke'" in i for i in issues)
    assert not any("environments.staging.after_deploy" in i for i in issues), issues


def test_watch_health_settings_have_fair_defaults_and_ranges(tmp_path: Path) -> None:
    staging = load_pipeline(write(tmp_path, VALID)).environment("staging")
    assert (staging.watch_check_timeout, staging.watch_failures) == (5, 3)
    text = VALID.replace("[defaults]\n", "[defaults]\nwatch_failures = 0\n", 1)
    line = text.splitlines().index("watch_failures = 0") + 1
    issues = issues_of(tmp_path, text)
    path = str(tmp_path / "stageline.toml")
    assert any(i.startswith(f"{path}:{line}: ") and "watch_failures" in i for i in issues)
