"""``stageline status`` draws the read model; text from people stays text (no markup)."""

from __future__ import annotations

from datetime import UTC, datetime

from stageline.cli import output
from stageline.cli.pipeline_view import draw_pipeline
from stageline.usecases.views import EnvironmentView, Observed, PipelineView, Release, SignOffView

DIGEST = "sha256:" + "ab" * 32


def view() -> PipelineView:
    release = Release(DIGEST, "1.0", "v1[red]")
    staging = EnvironmentView(
        "staging", "staging", "http://127.0.0.1:1/[bold]x", True, False, release, "healthy",
        datetime.now(UTC), "3m", "ana", False, Observed("healthy"),
    )  # fmt: skip
    production = EnvironmentView(
        "production", "production", "http://127.0.0.1:2", False, True, None, "not deployed",
        None, "", None, False, None,
    )  # fmt: skip
    signoff = SignOffView(
        "held", "staging", "production", release, (("smoke", "passed"), ("load", "pending")),
        (), 2, ("ben",), holds=(("needs [b]review[/b]", "`stageline approve staging`"),),
    )  # fmt: skip
    return PipelineView("shop", None, (staging, production), signoff)


def test_status_draws_boxes_holds_and_keeps_user_text_literal() -> None:
    with output.out.capture() as captured:
        draw_pipeline(view())
    text = captured.get()
    assert "held in staging:" in text and "needs [b]review[/b]" in text
    assert "http://127.0.0.1:1/[bold]x" in text and "v1[red]" in text
    assert "0/2 approvals" in text and "not deployed" in text and "3m ago" in text
