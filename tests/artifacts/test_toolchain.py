"""The build's Python: found on this host or refused, and checked against requires-python."""

from __future__ import annotations

import sys

import pytest

from stageline.artifacts.runner import pip
from stageline.artifacts.toolchain import check, find_python, refusal
from stageline.errors import BuildError


@pytest.mark.parametrize(
    ("requires", "version", "accepted"),
    [
        (None, "3.11.2", True),
        ("", "3.11.2", True),
        (">=3.11", "3.11.2", True),
        (">=3.12", "3.11.7", False),
        (">=3.12,<3.14", "3.13.0", True),
        ("~=3.11.4", "3.11.2", False),
        ("<3.11", "3.11.0", False),
        (">=3.13", "3.13.0rc1", True),  # judged by its release, as pip does
    ],
)
def test_requires_python_decides(requires: str | None, version: str, accepted: bool) -> None:
    assert (refusal(requires, version, chosen=False) is None) is accepted


def test_the_refusal_says_which_python_was_used_and_why() -> None:
    assert refusal(">=3.12", "3.11.7", chosen=False) == (
        "it requires Python >=3.12, and the build's Python is 3.11.7 "
        "(stageline's own Python (no [service] python))"
    )
    assert "([service] python)" in (refusal(">=3.12", "3.11.7", chosen=True) or "")
    assert "not a valid version specifier" in (refusal(">=three", "3.11.7", chosen=False) or "")


def test_check_refuses_naming_the_tag_with_a_hint() -> None:
    check(">=3.11", "3.11.2", "/usr/bin/python3", chosen=False, where="v1.0.0")
    with pytest.raises(BuildError) as caught:
        check(">=3.12", "3.11.2", "/usr/bin/python3", chosen=False, where="v1.0.0")
    assert str(caught.value).startswith("refusing to build v1.0.0: it requires Python >=3.12")
    assert 'python = "3.12"' in (caught.value.hint or "")


def test_without_a_request_the_default_builds() -> None:
    assert find_python(None, "/opt/python") == "/opt/python"


def test_a_python_this_host_lacks_is_refused_without_downloading() -> None:
    with pytest.raises(BuildError) as caught:
        find_python("3.99", sys.executable)
    assert str(caught.value) == (
        "the service asks for Python 3.99 ([service] python), and this host has none "
        "(looked without downloading)"
    )


def test_an_interpreter_path_is_taken() -> None:
    found = find_python(sys.executable, "/opt/python")
    assert found == sys.executable


def test_pip_acts_for_another_interpreter_through_stagelines_own() -> None:
    assert pip(sys.executable) == [sys.executable, "-m", "pip"]
    assert pip("/opt/py312/bin/python3") == [
        sys.executable, "-m", "pip", "--python", "/opt/py312/bin/python3"
    ]  # fmt: skip
