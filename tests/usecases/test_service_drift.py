"""A built artifact keeps its frozen [service]: deploys and status use it, and say what of
the pipeline file differs."""

from __future__ import annotations

from markupsafe import escape

from stageline.usecases import deploy as usecases
from stageline.usecases import status as observe
from stageline.web.app import templates
from tests.usecases.conftest import PIPELINE, World

LINE = "health, release differ from the built artifact's; rebuild to take them"


def test_deploy_and_status_use_the_frozen_section_and_show_the_difference(world: World) -> None:
    world.artifact("1.0.0")  # built with release = "migrate", health = "/healthz"
    edited = PIPELINE.replace('health = "/healthz"', 'health = "/ready"').replace(
        'release = "migrate"', 'release = "migrate --fast"'
    )
    world.write_pipeline(edited)
    world.session.reload()
    plan = usecases.plan_deploy(world.session, "development", "v1.0.0", dry_run=True)
    assert plan.drift == LINE
    assert "run the release command: migrate" in plan.steps
    usecases.deploy(world.session, "development", "v1.0.0")
    calls = [(c.name, c.args) for c in world.fakes["development"].calls]
    assert ("run", ("migrate",)) in calls
    view = observe.status(world.session)
    row = view.environments[0]
    assert row.drift == LINE and row.to_json()["drift"] == LINE
    assert ("health", ("/healthz",)) in [(c.name, c.args) for c in world.fakes["development"].calls]
    assert view.environments[1].drift is None  # nothing deployed there
    page = templates().get_template("_stage.html").render(env=row.to_json())
    assert f'data-testid="drift">{escape(LINE)}</p>' in page


def test_no_line_when_the_pipeline_file_matches(world: World) -> None:
    world.artifact("1.0.0")
    plan = usecases.plan_deploy(world.session, "development", "v1.0.0", dry_run=True)
    assert plan.drift is None
