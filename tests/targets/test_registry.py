"""Target kinds come from the ``stageline.targets`` entry-point group; tests inject fakes."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.model import Environment, Target, Tier
from stageline.errors import ConfigError, UnknownName
from stageline.targets import registry
from stageline.targets.fake import FakeTarget, FakeTargets
from stageline.targets.local import LocalTarget

ENV = Environment(
    name="staging", tier=Tier.staging, url="http://127.0.0.1:18750", target=Target(port=18750)
)


def test_local_is_declared_as_an_entry_point_and_the_fake_is_not() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group=registry.GROUP)}
    assert declared["local"] == "stageline.targets.local:LocalTarget"
    assert not any("fake" in value for value in declared.values())
    assert registry.kind_names() == tuple(sorted(declared))


def test_resolve_makes_the_kind_s_target_or_the_injected_one(tmp_path: Path) -> None:
    made = registry.resolve(tmp_path, ENV, "shop")
    assert isinstance(made, LocalTarget) and made.env is ENV
    fakes = FakeTargets()
    faked = registry.resolve(tmp_path, ENV, "shop", {"local": fakes})
    assert isinstance(faked, FakeTarget) and fakes["staging"] is faked
    assert registry.resolve(tmp_path, ENV, "shop", {"local": fakes}) is faked


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UnknownName) as unknown:
        registry.factory("ssh-that-nobody-installed")
    assert unknown.value.valid == list(registry.kind_names())
    assert "unknown target kind 'ssh-that-nobody-installed'; valid: local" in str(unknown.value)


def test_the_pipeline_file_rejects_an_undeclared_kind(tmp_path: Path) -> None:
    (tmp_path / "stageline.toml").write_text(
        '[service]\nname = "svc"\nstart = "run"\n'
        '[environments.production]\ntier = "production"\n'
        'target = { kind = "ssh", port = 18751 }\n'
    )
    with pytest.raises(ConfigError, match="unknown target kind 'ssh'; valid: local"):
        load_pipeline(tmp_path)


def test_an_installed_plug_in_kind_is_found_and_cannot_replace_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = tmp_path / "stageline_edge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stageline-edge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[stageline.targets]\nedge = stageline_edge:make\nlocal = stageline_edge:make\n"
    )
    (tmp_path / "stageline_edge.py").write_text(
        "from stageline.targets.fake import FakeTargets\nmake = FakeTargets()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.factory.cache_clear()
    try:
        assert "edge" in registry.kind_names()
        edge = ENV.model_copy(update={"target": Target.model_construct(kind="edge", port=18752)})
        assert isinstance(registry.resolve(tmp_path, edge, "shop"), FakeTarget)
        assert isinstance(registry.resolve(tmp_path, ENV, "shop"), LocalTarget)
    finally:
        registry.factory.cache_clear()
        sys.modules.pop("stageline_edge", None)
