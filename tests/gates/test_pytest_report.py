"""Judging a pytest run from pytest's own output (real outputs, trimmed)."""

from __future__ import annotations

from stageline.gates.pytest_report import Counts, excerpt, headline, judge, missing_module

FAILED = """\
tests/test_tally.py .F                                                   [100%]
=================================== FAILURES ===================================
_____________________________ test_total_adds_up ______________________________

    def test_total_adds_up():
>       assert total([1, 2]) == 3
E       assert 2 == 3
E        +  where 2 = total([1, 2])

tests/test_tally.py:9: AssertionError
=========================== short test summary info ============================
FAILED tests/test_tally.py::test_total_adds_up - assert 2 == 3
========================= 1 failed, 1 passed in 0.05s ==========================
"""

COLLECTION = """\
_________________________ ERROR collecting t/test_a.py _________________________
ImportError while importing test module '/tmp/x/t/test_a.py'.
t/test_a.py:1: in <module>
    import nosuchmod
E   ModuleNotFoundError: No module named 'nosuchmod'
=========================== short test summary info ============================
ERROR t/test_a.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
"""

USAGE = """\
collected 0 items
============================ no tests ran in 0.01s =============================
ERROR: file or directory not found: gate_tests/test_x.py
"""


def test_a_failed_assertion_is_named_with_its_line() -> None:
    said = excerpt(FAILED)
    assert said[0] == "FAILED tests/test_tally.py::test_total_adds_up - assert 2 == 3"
    assert "E       assert 2 == 3" in said
    counts = Counts(tests=2, failures=1, failing=["tests.test_tally::test_total_adds_up"])
    assert judge(1, counts, "tests", said) == (
        "failed",
        "1 passed, 1 failed, 0 errors: tests.test_tally::test_total_adds_up (assert 2 == 3)",
    )


def test_a_collection_error_says_what_could_not_be_imported() -> None:
    said = excerpt(COLLECTION)
    assert headline(said) == "ModuleNotFoundError: No module named 'nosuchmod'"
    assert missing_module(COLLECTION) == "nosuchmod"
    assert judge(2, None, "t", said) == (
        "error",
        "pytest exited 2 without a report: ModuleNotFoundError: No module named 'nosuchmod'",
    )


def test_a_usage_error_is_shown_not_hidden() -> None:
    said = excerpt(USAGE)
    assert said == ["ERROR: file or directory not found: gate_tests/test_x.py"]
    status, summary = judge(4, None, "gate_tests", said)
    assert status == "error"
    assert summary.endswith(
        "without a report: ERROR: file or directory not found: gate_tests/test_x.py"
    )


def test_nothing_to_say_keeps_the_exit_code() -> None:
    assert excerpt("") == [] and headline([]) is None
    assert judge(3, None, "tests", []) == ("error", "pytest exited 3 without a report")
    assert judge(5, None, "tests", []) == ("failed", "no tests collected in tests")
