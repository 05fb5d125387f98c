"""Which lock a build reads (from the service's folder up), and what it did not pin."""

from __future__ import annotations

from pathlib import Path

import pytest
from artifact_helpers import write_files

from stageline.artifacts.deps import (
    PinSource,
    find_lock,
    pinned_names,
    resolution_note,
    unpinned,
)
from stageline.artifacts.manifest import Manifest, Pin, PythonInfo, ServiceInfo, SourceInfo
from stageline.config.model import Service
from stageline.errors import BuildError

SERVICE = Service(name="api", start="api")


def test_the_lock_is_found_in_the_service_folder_first_then_above(tmp_path: Path) -> None:
    write_files(
        tmp_path, {"uv.lock": "", "backend/pyproject.toml": "", "docs/requirements.txt": ""}
    )
    assert find_lock(tmp_path, SERVICE, tmp_path / "backend") == "uv.lock"
    (tmp_path / "backend" / "requirements.txt").write_text("six==1.16.0\n")
    assert find_lock(tmp_path, SERVICE, tmp_path / "backend") == "backend/requirements.txt"
    assert find_lock(tmp_path, SERVICE) == "uv.lock"


def test_only_the_four_lock_names_are_read(tmp_path: Path) -> None:
    write_files(tmp_path, {"requirements-dev.txt": "pytest==8.0\n", "requirements/prod.txt": ""})
    assert find_lock(tmp_path, SERVICE) is None
    named = SERVICE.model_copy(update={"lock": "requirements/prod.txt"})
    assert find_lock(tmp_path, named) == "requirements/prod.txt"


def test_a_named_lock_is_relative_to_the_service_and_stays_in_the_repository(
    tmp_path: Path,
) -> None:
    write_files(tmp_path, {"repo/uv.lock": "", "repo/backend/app.py": "", "outside.lock": ""})
    top = tmp_path / "repo"
    up = SERVICE.model_copy(update={"lock": "../uv.lock"})
    assert find_lock(top, up, top / "backend") == "uv.lock"
    out = SERVICE.model_copy(update={"lock": "../../outside.lock"})
    with pytest.raises(BuildError, match="not in the commit"):
        find_lock(top, out, top / "backend")


def test_pinned_names_reads_pins_includes_markers_and_hashes(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "base.txt": "Django==5.0.4\n",
            "requirements.txt": (
                "-r base.txt\n"
                "# a comment\n"
                "psycopg[binary]==3.1.18 ; python_version >= '3.8' \\\n"
                "    --hash=sha256:abc\n"
                "gunicorn>=21\n"
                "whitenoise==6.*\n"
                "Pillow  # unpinned\n"
                "--index-url https://example.invalid/simple\n"
                "-e ./vendored\n"
            ),
        },
    )
    assert pinned_names(tmp_path / "requirements.txt") == {"django", "psycopg"}


def test_what_resolution_added_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("Django==5.0.4\n")
    pins = [Pin(name="asgiref", version="3.8.1"), Pin(name="django", version="5.0.4"),
            Pin(name="sqlparse", version="0.5.0")]  # fmt: skip
    assert unpinned(pins, PinSource(lock, "requirements.txt")) == ["asgiref", "sqlparse"]
    assert unpinned(pins, PinSource(None, None)) == ["asgiref", "django", "sqlparse"]


def _manifest(resolved: list[str], pinned_from: str | None, count: int) -> Manifest:
    return Manifest(
        service=ServiceInfo(name="api", version="1", kind="app", start="api", health="/"),
        source=SourceInfo(ref="v1", tag="v1", commit="c" * 40, commit_time="2026-01-01T00:00:00Z"),
        python=PythonInfo(implementation="cpython", version="3.11", platform="linux_x86_64"),
        pins=[Pin(name=f"p{i}", version="1") for i in range(count)],
        pinned_from=pinned_from,
        files=[],
        resolved_at_build=resolved,
    )


def test_the_note_says_what_was_resolved_and_how_to_lock() -> None:
    assert resolution_note(_manifest([], "uv.lock", 3)) is None
    names = [f"p{i}" for i in range(10)]
    note = resolution_note(_manifest(names, "requirements.txt", 12))
    assert note is not None
    assert note.startswith(
        "requirements.txt is not a full lock: 10 of 12 packages were resolved at build time "
        "(p0, p1, p2, p3, p4, p5, p6, p7 and 2 more)"
    )
    assert "uv pip compile requirements.in -o requirements.txt" in note
    bare = resolution_note(_manifest(["p0"], None, 1))
    assert bare is not None and bare.startswith("there is no lock file") and "uv lock" in bare
