"""Parity over persist folders and Redis: the probe's persist states, and the rows."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from stageline.parity.compare import compare
from stageline.parity.facts import PROBE_SCRIPT, BackingFacts, Facts, parse_persist

DATA = Path(__file__).parent / "data"


def production() -> Facts:
    return Facts.from_json(json.loads((DATA / "production_pg16.json").read_text()))


def test_the_probe_says_how_each_persist_folder_is_reached(tmp_path: Path) -> None:
    (tmp_path / "kept").mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "uploads").symlink_to(tmp_path / "kept")
    (tmp_path / "app" / "cache").mkdir()
    (tmp_path / "app" / "gone").symlink_to(tmp_path / "nowhere")
    names = ["uploads", "cache", "gone", "absent"]
    done = subprocess.run(
        [sys.executable, "-I", "-c", PROBE_SCRIPT, *names],
        cwd=tmp_path / "app", capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert parse_persist(done.stdout) == {
        "absent": "missing",
        "cache": "inside the release",
        "gone": "dangling link",
        "uploads": "writable",
    }


def test_persist_and_redis_rows() -> None:
    prod = replace(
        production(),
        persist={"uploads": "writable"},
        backing={**production().backing, "redis": BackingFacts("Redis", "7.0.15")},
    )
    same = compare(replace(prod, environment="staging"), prod)
    assert same.ok and {r.layer for r in same.rows} >= {"persist", "redis"}
    broken = replace(
        prod,
        environment="staging",
        persist={"uploads": "inside the release"},
        backing={**prod.backing, "redis": BackingFacts("Redis", "6.2.1")},
    )
    blocking = {(r.layer, r.key) for r in compare(broken, prod).blocking}
    assert blocking == {("persist", "uploads"), ("redis", "version")}
    legacy = prod.to_json()
    del legacy["persist"]
    assert Facts.from_json(legacy).persist == {}  # facts stored before persist existed
