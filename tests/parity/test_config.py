"""``[environments.X.parity]`` in the pipeline file: validated with file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.errors import ConfigError

HEAD = (
    '[service]\nname = "shop"\nstart = "true"\n'
    '[environments.staging]\ntier = "staging"\ntarget = { kind = "local", port = 18801 }\n'
)


def write(tmp_path: Path, parity: str) -> Path:
    (tmp_path / "stageline.toml").write_text(HEAD + "[environments.staging.parity]\n" + parity)
    return tmp_path


def test_allow_list_and_infrastructure_load(tmp_path: Path) -> None:
    pipe = load_pipeline(
        write(
            tmp_path,
            'allow = [{ layer = "postgres", key = "version", reason = "upgrade in January" },\n'
            '         { layer = "os", reason = "kernel differs on the new hosts" }]\n'
            'infrastructure = { terraform = "infra/staging" }\n',
        )
    )
    parity = pipe.environment("staging").parity
    assert [(a.layer, a.key) for a in parity.allow] == [("postgres", "version"), ("os", None)]
    assert parity.infrastructure == {"terraform": "infra/staging"}


@pytest.mark.parametrize(
    ("parity", "key", "message"),
    [
        (
            'allow = [{ layer = "database", reason = "x" }]\n',
            "parity.allow.0.layer",
            "unknown value",
        ),
        ('allow = [{ layer = "os" }]\n', "parity.allow.0.reason", "missing required key"),
        ('allow = [{ layer = "os", reason = "" }]\n', "parity.allow.0.reason", ""),
        ("allowed = []\n", "parity.allowed", "unknown key"),
    ],
)
def test_bad_parity_tables_name_file_line_and_key(
    tmp_path: Path, parity: str, key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(write(tmp_path, parity))
    [issue] = caught.value.issues
    assert issue.key == f"environments.staging.{key}" and message in issue.message
    assert issue.line == 8  # the line of the key
