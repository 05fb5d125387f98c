"""`[data]` in the pipeline file: loaded into the Pipeline, errors located by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config.loader import load_pipeline
from stageline.errors import ConfigError

BASE = """\
[service]
name = "shop"
start = "true"

[environments.production]
tier = "production"
url = "http://127.0.0.1:18604"
target = { kind = "local", port = 18604 }
"""


def test_data_rules_are_part_of_the_pipeline(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        BASE + '\n[data]\nkeep = 2\n\n[data.tables.users]\nid = "keep"\nemail = "email"\n'
    )
    pipe = load_pipeline(tmp_path)
    assert pipe.data.keep == 2
    rule = pipe.data.rule("users", "email")
    assert rule is not None and rule.mask == "email"


def test_bad_rules_are_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        BASE + '\n[data]\nkeep = 0\n\n[data.tables.users]\nid = "keep"\nemail = "emial"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_pipeline(tmp_path)
    issues = {issue.key: issue for issue in caught.value.issues}
    assert issues["data.keep"].line == 11
    email = next(i for k, i in issues.items() if k.startswith("data.tables.users.email"))
    assert email.line == 15 and "emial" in email.message
    assert email.hint is not None and "hash" in email.hint
