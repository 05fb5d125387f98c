"""A Session reads the pipeline file once: one command judges against one file."""

from __future__ import annotations

from pathlib import Path

from stageline.usecases.pipeline import Session

PIPELINE = """
[service]
name = "shop"
start = "true"
[environments.staging]
tier = "staging"
target = { kind = "local", port = 18902 }
"""
PRODUCTION = """
[environments.production]
tier = "production"
target = { kind = "local", port = 18903 }
"""


def test_the_pipeline_is_read_once_and_again_only_on_reload(tmp_path: Path) -> None:
    pipeline_file = tmp_path / "stageline.toml"
    pipeline_file.write_text(PIPELINE)
    with Session.open(tmp_path) as session:
        first = session.pipeline()
        assert first.names == ["staging"]
        pipeline_file.write_text(PIPELINE + PRODUCTION)  # edited mid-command
        assert session.pipeline() is first
        assert session.reload().names == ["staging", "production"]
        assert session.pipeline().names == ["staging", "production"]
    with Session.open(tmp_path) as fresh:  # the next command sees the edit
        assert fresh.pipeline().names == ["staging", "production"]
