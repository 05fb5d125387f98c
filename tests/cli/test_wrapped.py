"""Long reasons on screen: wrapped to the terminal and cut, never one 1,500-character line."""

from __future__ import annotations

from stageline.cli import output
from stageline.cli.deploy import _print_holds

#: what a Django rehearsal's hold once printed: per-app revision strings, several times
LONG = "django plan differs: " + " ".join(
    f"app{n}.0{n:03d}_auto_20261201_{n:04d}[x]" for n in range(60)
)


def test_a_short_text_is_one_line_as_it_is() -> None:
    assert output.wrapped("0 of 2 approvals for sha256:abc", 40) == [
        "0 of 2 approvals for sha256:abc"
    ]


def test_a_long_text_is_wrapped_at_words_and_cut_saying_how_much() -> None:
    lines = output.wrapped(LONG, 100)
    assert len(LONG) > 1500 and len(lines) == output.MAX_LINES
    assert all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("django plan differs: app0.0000_auto_20261201_0000[x] app1")
    assert lines[-1].startswith("… ") and lines[-1].endswith("more lines (--json: whole)")
    assert output.wrapped("x" * 500, 100) == ["x" * 100] * 5  # a long token is cut
    assert output.wrapped("one\ntwo", 100) == ["one", "two"]


def test_holds_and_errors_print_long_reasons_in_short_lines() -> None:
    with output.err.capture() as captured:
        _print_holds([(LONG, "run `stageline verify staging`")])
        output.error_line(f"v1.7.0 is held in staging: {LONG}", "approve it")
    printed = captured.get().splitlines()
    assert max(len(line) for line in printed) <= output.err.width
    assert printed[0].startswith("  hold django plan differs: app0.")
    assert printed[1].startswith("       app")  # indented under the reason
    assert "       to clear: run `stageline verify staging`" in printed
    assert any(line.startswith("error: v1.7.0 is held in staging: django") for line in printed)
    assert printed[-1] == "hint: approve it"
    assert len(printed) <= 2 * output.MAX_LINES + 2
