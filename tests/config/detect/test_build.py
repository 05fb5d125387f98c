"""Lock, build steps, tests and tag patterns."""

from __future__ import annotations

from pathlib import Path

from stageline.config.detect.build import (
    Lock,
    Suite,
    accept_patterns,
    build_steps,
    find_lock,
    find_tests,
)
from stageline.config.detect.tree import requirements
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, MONOREPO_FASTAPI, make


def test_a_workspace_lock_above_the_service_root_is_found(tmp_path: Path) -> None:
    tree = make(tmp_path, MONOREPO_FASTAPI)
    assert find_lock(tree, "backend") == Lock("../uv.lock", False)


def test_a_requirements_folder_names_its_production_file(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "requirements/dev.txt": "pytest\n", "requirements/production.txt": "django==5\n",
        "requirements/base.txt": "django==5\n",
    })  # fmt: skip
    assert find_lock(tree, "") == Lock("requirements/production.txt", True)
    assert find_lock(make(tmp_path / "empty", {"app.py": ""}), "") is None


def test_django_static_files_and_compressor_are_build_steps(tmp_path: Path) -> None:
    tree = make(tmp_path, DJANGO_STATIC)
    steps = build_steps(tree, "", requirements(tree, ""), "mysite/settings.py")
    assert steps == [
        "python manage.py collectstatic --noinput",
        "python manage.py compress --force",
    ]


def test_no_static_root_no_collectstatic(tmp_path: Path) -> None:
    files = {**DJANGO_STATIC}
    files["mysite/settings.py"] = files["mysite/settings.py"].replace(
        "STATIC_ROOT =", "# STATIC_ROOT ="
    )
    tree = make(tmp_path, files)
    assert build_steps(tree, "", requirements(tree, ""), "mysite/settings.py") == []


def test_flask_babel_translations_are_compiled(tmp_path: Path) -> None:
    tree = make(tmp_path, FLASK_REDIS)
    assert build_steps(tree, "", requirements(tree, "")) == [
        "pybabel compile -d flaskr/translations"
    ]


def test_tests_and_where_their_dependencies_are(tmp_path: Path) -> None:
    monorepo = make(tmp_path / "m", MONOREPO_FASTAPI)
    assert find_tests(monorepo, "backend", requirements(monorepo, "backend")) == Suite(
        ("tests",), ("group", "dev"), True
    )
    flask = make(tmp_path / "f", FLASK_REDIS)
    assert find_tests(flask, "", requirements(flask, "")) == Suite(
        ("tests",), ("extra", "test"), True
    )
    plain = make(tmp_path / "p", {"requirements-dev.txt": "pytest\n", "test/test_a.py": ""})
    assert find_tests(plain, "", requirements(plain, "")) == Suite(
        ("test",), ("requirements", "requirements-dev.txt"), True
    )
    assert find_tests(make(tmp_path / "n", {"app.py": ""}), "", requirements(plain, "")) is None


def test_pytest_testpaths_win(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["checks"]\n',
        "checks/test_a.py": "", "tests/helper.py": "",
    })  # fmt: skip
    found = find_tests(tree, "", requirements(tree, ""))
    assert found is not None and found.paths == ("checks",) and not found.uses_pytest


def test_tag_patterns_follow_the_projects_tags() -> None:
    tags = ["v1.2.0", "v1.1.0", "1.0.0", "release-7", "v1.0.0-rc1", "latest"]
    assert accept_patterns(tags) == ["v*", "[0-9]*", "release-*"]
    assert accept_patterns([]) == []


def test_a_malformed_pyproject_declares_nothing(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "pyproject.toml": 'project = "x"\n[tool]\npoetry = 3\n'
        '[dependency-groups]\ndev = "pytest"\n',
        "tests/test_a.py": "",
    })  # fmt: skip
    deps = requirements(tree, "")
    assert (deps.runtime, deps.dev) == ({}, {})
    assert find_tests(tree, "", deps) == Suite(("tests",), None, False)
