"""The pipeline's order: the environment before another, and the sign-off pair."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.model import Pipeline
from stageline.errors import UnknownName


@pytest.fixture
def pipeline(tmp_path: Path) -> Callable[..., Pipeline]:
    def load(*tiers: tuple[str, str]) -> Pipeline:
        text = '[service]\nname = "shop"\nstart = "true"\n'
        for i, (name, tier) in enumerate(tiers):
            text += f'[environments.{name}]\ntier = "{tier}"\n'
            text += f'target = {{ kind = "local", port = {18900 + i} }}\n'
        (tmp_path / "stageline.toml").write_text(text)
        return load_pipeline(tmp_path)

    return load


def test_before_and_the_signoff_pair(pipeline: Callable[..., Pipeline]) -> None:
    pipe = pipeline(("dev", "development"), ("staging", "staging"), ("prod", "production"),
                    ("dr", "production"))  # fmt: skip
    assert pipe.before("dev") is None
    assert [pipe.before(n).name for n in ("staging", "prod", "dr")] == ["dev", "staging", "prod"]  # type: ignore[union-attr]
    source, production = pipe.signoff_pair()
    assert (source and source.name, production and production.name) == ("staging", "prod")
    with pytest.raises(UnknownName):
        pipe.before("qa")


def test_no_production_or_production_first(pipeline: Callable[..., Pipeline]) -> None:
    assert pipeline(("dev", "development"), ("staging", "staging")).signoff_pair() == (None, None)

    first = pipeline(("prod", "production"), ("dev", "development"))
    source, production = first.signoff_pair()
    assert source is None and production is not None and production.name == "prod"


def test_earlier_is_every_environment_before(pipeline: Callable[..., Pipeline]) -> None:
    pipe = pipeline(("dev", "development"), ("staging", "staging"), ("prod", "production"))
    assert [e.name for e in pipe.earlier("prod")] == ["dev", "staging"]
    assert pipe.earlier("dev") == []
