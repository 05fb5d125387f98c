"""access.check: who may deploy, promote into, roll back, override a freeze (pure)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.decisions.access import (
    ACTIONS,
    AccessRefused,
    Rules,
    check,
    members,
    run_actions,
)
from stageline.errors import ConfigError

GROUPS = {"leads": ("Lea@Shop.example", "max@shop.example"), "qa": ("ana@shop.example",)}
PEOPLE = ("lea@shop.example", "max@shop.example", "ana@shop.example", "zoe@shop.example")


def test_unwritten_rules_let_everyone() -> None:
    rules = Rules("production")
    for person, action in itertools.product(PEOPLE, ACTIONS):
        assert check(person, action, rules, GROUPS) is None


def test_promote_rule_names_itself_when_it_refuses() -> None:
    rules = Rules("production", promote=("group:leads",))
    refusal = check("ana@shop.example", "promote", rules, GROUPS)
    assert refusal is not None
    assert str(refusal) == (
        "production.access.promote allows group:leads; ana@shop.example is not in it"
    )
    assert refusal.rule == "production.access.promote"
    assert check("LEA@shop.example ", "promote", rules, GROUPS) is None  # case, spaces


def test_deploy_and_rollback_follow_promote_when_unwritten() -> None:
    rules = Rules("production", promote=("group:leads",))
    for action in ("deploy", "rollback"):
        refusal = check("ana@shop.example", action, rules, GROUPS)  # type: ignore[arg-type]
        assert refusal is not None and refusal.rule == "production.access.promote"
    written = Rules("production", promote=("group:leads",), deploy=("ana@shop.example",))
    assert check("ana@shop.example", "deploy", written, GROUPS) is None
    assert check("ana@shop.example", "rollback", written, GROUPS) is None
    refusal = check("lea@shop.example", "rollback", written, GROUPS)
    assert refusal is not None and refusal.rule == "production.access.deploy"


def test_override_freeze_is_its_own_rule() -> None:
    rules = Rules("production", promote=("*",), override_freeze=("max@shop.example",))
    assert check("zoe@shop.example", "promote", rules, GROUPS) is None
    refusal = check("lea@shop.example", "override_freeze", rules, GROUPS)
    assert refusal is not None and refusal.rule == "production.access.override_freeze"
    assert check("max@shop.example", "override_freeze", rules, GROUPS) is None


def test_an_empty_list_allows_nobody() -> None:
    refusal = check("lea@shop.example", "deploy", Rules("prod", deploy=()), GROUPS)
    assert refusal is not None and str(refusal).startswith("prod.access.deploy allows nobody")


@pytest.mark.parametrize(
    ("entries", "allowed"),
    [
        (("group:leads",), {"lea@shop.example", "max@shop.example"}),
        (("group:qa", "zoe@shop.example"), {"ana@shop.example", "zoe@shop.example"}),
        (("group:unknown",), set()),
        (("*",), {"*"}),
    ],
)
def test_members(entries: tuple[str, ...], allowed: set[str]) -> None:
    assert members(entries, GROUPS) == allowed


def test_every_combination_is_decided_by_membership() -> None:
    lists = [None, (), ("group:leads",), ("ana@shop.example",), ("*",)]
    for deploy, promote, override in itertools.product(lists, repeat=3):
        rules = Rules("env", deploy=deploy, promote=promote, override_freeze=override)
        for person, action in itertools.product(PEOPLE, ACTIONS):
            key, entries = rules.written(action)
            expected = entries is None or bool({"*", person} & members(entries, GROUPS))
            refusal = check(person, action, rules, GROUPS)
            assert (refusal is None) == expected, (rules, person, action)
            if refusal is not None:
                assert refusal.rule == f"env.access.{key}"


def test_access_refused_is_exit_code_one_with_a_hint() -> None:
    refusal = check("ana@shop.example", "promote", Rules("production", promote=()), GROUPS)
    assert refusal is not None
    error = AccessRefused(refusal)
    assert error.exit_code == 1 and "[environments.production.access]" in (error.hint or "")


def test_the_pipeline_file_rejects_unknown_groups_in_access(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "svc"\nstart = "run"\n'
        '[people.groups]\nleads = ["lea@shop.example"]\n'
        '[environments.production]\ntier = "production"\n'
        'target = { kind = "local", port = 18020 }\n'
        '[environments.production.access]\npromote = ["group:leads"]\n'
        'override_freeze = ["group:nobody"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    assert "environments.production.access.override_freeze: unknown group 'nobody'" in str(
        caught.value
    )
    (tmp_path / "stageline.toml").write_text(
        (tmp_path / "stageline.toml").read_text().replace("group:nobody", "*")
    )
    env = load_pipeline(tmp_path).environment("production")
    assert env.access.promote == ["group:leads"] and env.access.deploy is None


def test_break_glass_has_its_own_rule_which_follows_override_freeze() -> None:
    written = Rules("production", force=("olga@shop.example",), override_freeze=("*",))
    refusal = check("zoe@shop.example", "force", written, GROUPS)
    assert refusal is not None and refusal.rule == "production.access.force"
    assert check("OLGA@shop.example", "force", written, GROUPS) is None
    follows = Rules("production", override_freeze=("group:leads",))
    refusal = check("zoe@shop.example", "force", follows, GROUPS)
    assert refusal is not None and refusal.rule == "production.access.override_freeze"
    assert check("zoe@shop.example", "force", Rules("production"), GROUPS) is None


def test_run_is_on_a_copy_unless_asked_and_live_in_production_is_break_glass() -> None:
    assert run_actions(live=False, production=False) == ("run",)
    assert run_actions(live=False, production=True) == ("run",)
    assert run_actions(live=True, production=False) == ("run_live",)
    assert run_actions(live=True, production=True) == ("run_live", "force")
    rules = Rules("production", deploy=("group:leads",), force=("max@shop.example",))
    lea, maxi = "lea@shop.example", "max@shop.example"  # both leads; only max may force
    actions = run_actions(live=True, production=True)
    assert all(check(maxi, action, rules, GROUPS) is None for action in actions)
    refusals = [check(lea, action, rules, GROUPS) for action in actions]
    assert refusals[0] is None and refusals[1] is not None
    assert refusals[1].rule == "production.access.force"
