"""The fake target plays what it is scripted to, and records what it was asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.artifacts.manifest import Manifest, PythonInfo, ServiceInfo, SourceInfo
from stageline.config.model import Environment, Target, Tier
from stageline.config.resolve import PostgresFacts
from stageline.errors import UsageError
from stageline.targets.base import Release
from stageline.targets.fake import FakeTargets

ENV = Environment(
    name="staging", tier=Tier.staging, url="http://127.0.0.1:18760", target=Target(port=18760)
)
MANIFEST = Manifest(
    service=ServiceInfo(name="shop", version="1.0.0", kind="package", start="s", health="/h"),
    source=SourceInfo(ref="v1", tag="v1", commit="c" * 40, commit_time="2026-01-01T00:00:00Z"),
    python=PythonInfo(implementation="cpython", version="3.11", platform="linux_x86_64"),
    pins=[],
    pinned_from=None,
    files=[],
)


def release(digest: str) -> Release:
    return Release("staging", digest, MANIFEST, Path("/nonexistent"))


def test_switch_back_puts_the_previous_release_back_once(tmp_path: Path) -> None:
    fake = FakeTargets()(tmp_path, ENV, "shop")
    assert not fake.switch_back("why").done  # nothing ran before
    for digest in ("sha256:" + "a" * 64, "sha256:" + "b" * 64):
        fake.start(fake.prepare(release(digest)), {})
    assert fake.switch_back("after-deploy check failed").done
    assert fake.served[-1] == "sha256:" + "a" * 64
    assert "no earlier release" in fake.switch_back("again").why


def test_a_scripted_failed_switch_back_says_so(tmp_path: Path) -> None:
    fakes = FakeTargets()
    fakes.script("staging", switch_back=False)
    fake = fakes(tmp_path, ENV, "shop")
    for digest in ("sha256:" + "a" * 64, "sha256:" + "b" * 64):
        fake.start(fake.prepare(release(digest)), {})
    assert fake.switch_back("why").why == "the previous release did not start again"
    with pytest.raises(UsageError, match="scripts no 'nonsense'"):
        fakes.script("staging", nonsense=1)


def test_backing_admin_url_and_probe_follow_the_script(tmp_path: Path) -> None:
    fakes = FakeTargets()
    fake = fakes(tmp_path, ENV, "shop")
    assert fake.backing() is None and not fake.stop_backing()
    with pytest.raises(UsageError, match="has no PostgreSQL server"):
        fake.admin_url()
    fakes.script("staging", backing=PostgresFacts("127.0.0.1", 5999, "shop", "pw", "shop"))
    assert fake.admin_url("copy").endswith("/copy") and fake.stop_backing()
    prepared = fake.prepare(release("sha256:" + "a" * 64))
    assert fake.run_probe(prepared, ["python", "-c", "1"], timeout=1).ok
    assert fake.names() == ["backing", "stop_backing", "admin_url", "admin_url",
                            "stop_backing", "prepare", "run_probe"]  # fmt: skip
    assert fake.log_path().name == "service.log" and fake.url().endswith(":18760")
