"""`stageline check` catches what would only fail later: an unknown ``${name}`` in vars
(the deploy refused it, ``check`` said valid), an approval rule that needs more approvals
than it lists reviewers (it could never pass), and a reason over its cap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stageline.limits import REASON_LIMIT

HEAD = """[service]
name = "shop"
start = "run {port}"

[people.groups]
qa = ["ana@shop.example", "ben@shop.example", "chen@shop.example"]
"""


def check(folder: Path, text: str) -> tuple[int, list[dict[str, object]], str]:
    (folder / "stageline.toml").write_text(HEAD + text)
    plain = subprocess.run(
        [sys.executable, "-m", "stageline", "check"], cwd=folder, capture_output=True, text=True
    )
    as_json = subprocess.run(
        [sys.executable, "-m", "stageline", "check", "--json"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    issues = json.loads(as_json.stdout).get("issues", [])
    return plain.returncode, issues, plain.stderr


def line_of(folder: Path, needle: str) -> int:
    lines = (folder / "stageline.toml").read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if needle in line)


def test_an_unknown_interpolation_is_an_issue_at_its_line(tmp_path: Path) -> None:
    code, issues, stderr = check(
        tmp_path,
        """
[defaults]
vars = { WHERE = "${env.url}", HOST = "${postgres.host}" }

[environments.staging]
tier = "staging"
target = { kind = "local", port = 8603 }
vars = { PUBLIC = "${env.nope}", LITERAL = "$${env.nope}" }
""",
    )
    assert code == 2
    assert [(i["key"], i["line"]) for i in issues] == [  # [defaults] first, as merged
        ("environments.staging.vars.HOST", line_of(tmp_path, "HOST")),
        ("environments.staging.vars.PUBLIC", line_of(tmp_path, "PUBLIC")),
    ]
    assert "unknown name ${env.nope}; known: env.name, env.port, env.tier, env.url" in stderr
    hint = issues[0]["hint"]
    assert isinstance(hint, str) and "services.postgres" in hint


def test_more_approvals_required_than_reviewers_listed_is_an_issue(tmp_path: Path) -> None:
    code, issues, stderr = check(
        tmp_path,
        """
[environments.staging]
tier = "staging"
target = { kind = "local", port = 8603 }

[environments.staging.gates.signoff]
kind = "approval"
required = 3
reviewers = ["ana@shop.example", "ben@shop.example", "ana@shop.example"]

[environments.production]
tier = "production"
target = { kind = "local", port = 8604 }

[environments.production.gates.signoff]
kind = "approval"
required = 4
reviewers = ["group:qa", "ana@shop.example"]
""",
    )
    assert code == 2
    lines = (tmp_path / "stageline.toml").read_text().splitlines()
    required = [n for n, text in enumerate(lines, 1) if text.startswith("required")]
    assert [(i["key"], i["line"]) for i in issues] == [
        ("environments.staging.gates.signoff.required", required[0]),
        ("environments.production.gates.signoff.required", required[1]),
    ]
    assert "3 approvals are required but only 2 reviewers are listed" in stderr
    assert "4 approvals are required but only 3 reviewers are listed" in stderr


def test_reachable_rules_and_known_names_check_clean(tmp_path: Path) -> None:
    code, issues, stderr = check(
        tmp_path,
        """
[environments.staging]
tier = "staging"
target = { kind = "local", port = 8603 }
vars = { PUBLIC = "${env.url}" }

[environments.staging.gates.signoff]
kind = "approval"
required = 3
reviewers = ["group:qa"]

[environments.production]
tier = "production"
target = { kind = "local", port = 8604 }

[environments.production.gates.signoff]
kind = "approval"
required = 5
""",
    )
    assert (code, issues) == (0, []), stderr


def test_a_freeze_reason_over_the_cap_is_an_issue(tmp_path: Path) -> None:
    code, issues, _ = check(
        tmp_path,
        f"""
[environments.production]
tier = "production"
target = {{ kind = "local", port = 8604 }}

[[environments.production.freeze]]
start = 2026-12-24T00:00:00Z
end = 2026-12-27T00:00:00Z
reason = "{"z" * (REASON_LIMIT + 1)}"
""",
    )
    assert code == 2
    assert [i["key"] for i in issues] == ["environments.production.freeze.0.reason"]
    assert f"{REASON_LIMIT}" in str(issues[0]["message"])
