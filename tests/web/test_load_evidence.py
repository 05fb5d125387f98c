"""The load gate's evidence on the release page: both sides' charts (SVG), figures,
reasons and worst routes, drawn from the gate's own JSON."""

from __future__ import annotations

from typing import Any

from stageline.load.judge import Budgets, judge
from stageline.load.report import as_json
from stageline.web.app import templates
from stageline.web.charts import lines
from tests.gates.test_load import side


def test_lines_draws_one_polyline_per_series_and_escapes_labels() -> None:
    svg = str(lines([("base <1>", [1.0, 4.0, 2.0]), ("cand", [2.0, 8.0])], title="p99"))
    assert svg.count("<polyline") == 2 and "base &lt;1&gt;" in svg
    assert ">8 ms<" not in svg and ">8<" in svg  # the top of the axis, no unit given
    assert "nothing measured" in str(lines([("empty", [])], title="p99"))


def test_the_release_page_draws_a_load_runs_charts_and_reasons() -> None:
    baseline = side(per_second=((100, 6.0), (100, 7.0)))
    candidate = side("candidate (1.7.0)", p99_ms=30.0, per_second=((100, 29.0), (98, 31.0)))
    verdict = judge(baseline, candidate, Budgets())
    data = as_json((baseline, candidate), verdict, 100, 100, 1.0, "production", {"GET /a": 1})
    run: dict[str, Any] = {"kind": "load", "evidence": data}
    page = templates().from_string('{% from "_evidence.html" import evidence %}{{ evidence(run) }}')
    html = page.render(run=run)
    assert html.count('class="chart lines"') == 2
    assert "p99 latency per second" in html and "requests per second" in html
    assert "p99 30.0 ms vs 8.0 ms" in html  # the verdict's reason
    assert "candidate (1.7.0)" in html and "GET /a" in html
