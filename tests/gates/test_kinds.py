"""The registry, option validation, and the soak and approval kinds."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from stageline.errors import UnknownName
from stageline.gates import gate_kinds, get_gate, parse_options
from stageline.gates.approval import ApprovalGate, ApprovalOptions
from stageline.gates.soak import SoakGate, SoakOptions, format_duration, parse_duration

from .conftest import MakeContext, Service, ago


def test_builtin_kinds_are_known() -> None:
    assert {
        "http",
        "pytest",
        "command",
        "soak",
        "approval",
        "migrations",
        "parity",
        "pii-scan",
    } <= set(gate_kinds())


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownName) as caught:
        get_gate("lighthouse")
    assert str(caught.value).startswith(
        "unknown gate kind 'lighthouse'; valid: approval, command, http, load, migrations, parity, "
        "pii-scan, pytest, side-effects, soak"
    )
    assert caught.value.hint is not None and "stageline.gates" in caught.value.hint


@pytest.fixture
def plugin_on_path(tmp_path: Path) -> Iterator[None]:
    """A real installed-looking distribution (dist-info + module) declaring a gate kind."""
    (tmp_path / "extra_gate.py").write_text(
        "from pydantic import BaseModel\n"
        "from stageline.gates.base import GateResult\n"
        "class Options(BaseModel):\n"
        "    level: int = 1\n"
        "class ExtraGate:\n"
        "    Options = Options\n"
        "    def run(self, ctx, options):\n"
        "        return GateResult('passed', 'extra', 0.0, {})\n"
    )
    info = tmp_path / "extra_gate-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-gate\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[stageline.gates]\nextra = extra_gate:ExtraGate\nhttp = extra_gate:ExtraGate\n"
    )
    sys.path.insert(0, str(tmp_path))
    gate_kinds.cache_clear()
    yield
    sys.path.remove(str(tmp_path))
    sys.modules.pop("extra_gate", None)
    gate_kinds.cache_clear()


@pytest.mark.usefixtures("plugin_on_path")
def test_entry_points_add_kinds_but_do_not_replace_builtins() -> None:
    kinds = gate_kinds()
    assert type(kinds["extra"]).__name__ == "ExtraGate"
    assert type(kinds["http"]).__name__ == "HttpGate"
    assert parse_options("extra", {"level": 3}).model_dump() == {"level": 3}


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("http", {"steps": [{"path": "/", "expect_status": "many"}]}),
        ("pytest", {"python": "system"}),
        ("pytest", {"path": "../outside"}),
        ("command", {}),
        ("command", {"run": "echo 'unclosed"}),
        ("command", {"run": "true", "cwd": "/tmp"}),
        ("soak", {"minimum": "30 minutes"}),
        ("soak", {"minimum": "0m"}),
        ("approval", {"required": 0}),
        ("approval", {"reviewers": ["bob"]}),
        ("approval", {"extra": True}),
    ],
)
def test_bad_options_raise_validation_error(kind: str, options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_options(kind, options)


def test_good_options_parse() -> None:
    assert parse_options("soak", {"minimum": "1h30m"}).model_dump() == {
        "minimum": "1h30m",
        "health": True,
    }
    opts = parse_options("approval", {"reviewers": ["a@example.com", "group:qa"]})
    assert isinstance(opts, ApprovalOptions) and opts.required == 1


def test_durations() -> None:
    assert [parse_duration(t) for t in ("45s", "30m", "2h", "1d", "1h30m")] == [
        45, 1800, 7200, 86400, 5400
    ]  # fmt: skip
    assert [format_duration(s) for s in (45, 720, 3900, 183600)] == ["45s", "12m", "1h05m", "2d3h"]


def test_soak_passes_after_the_minimum(make_context: MakeContext, service: Service) -> None:
    ctx = make_context(service.url, deployed_at=ago(hours=1))
    result = SoakGate().run(ctx, SoakOptions(minimum="30m"))
    assert result.status == "passed", result.summary
    assert result.evidence["health"] == "200"


def test_soak_not_long_enough_says_how_long(make_context: MakeContext, service: Service) -> None:
    ctx = make_context(service.url, deployed_at=ago(minutes=12, seconds=5))
    result = SoakGate().run(ctx, SoakOptions(minimum="30m"))
    assert result.status == "failed"
    assert result.summary.startswith("ran 12m of 30m (")


def test_soak_deployed_in_the_future_or_unknown(make_context: MakeContext) -> None:
    ctx = make_context(deployed_at=ago(hours=-1))
    assert SoakGate().run(ctx, SoakOptions(minimum="45s")).summary.startswith("ran 0s of 45s")
    result = SoakGate().run(make_context(), SoakOptions(minimum="45s"))
    assert result.status == "failed"
    assert result.summary == "no record of when this digest started here"


def test_soak_checks_health(make_context: MakeContext) -> None:
    ctx = make_context("http://127.0.0.1:9", deployed_at=ago(days=2))
    result = SoakGate().run(ctx, SoakOptions(minimum="1d"))
    assert result.status == "failed"
    assert result.summary.startswith("ran 2d, but the health check failed")
    assert SoakGate().run(ctx, SoakOptions(minimum="1d", health=False)).status == "passed"


def test_approval_is_counted_elsewhere(make_context: MakeContext) -> None:
    result = ApprovalGate().run(make_context(), ApprovalOptions(required=2))
    assert (result.status, result.summary) == ("passed", "approvals are counted at promotion")
