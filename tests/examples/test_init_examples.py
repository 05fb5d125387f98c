"""`stageline init` on the examples: the file it writes passes `check` and says what the
hand-written pipeline of each example says (start, health, release, the database
variables), with no question left but the tags (these copies have none)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stageline.config import load_pipeline
from stageline.config.starter import questions, starter_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["shop", "fastapi-pg", "django-pg"])
def test_init_writes_what_the_example_declares(tmp_path: Path, name: str) -> None:
    copy = tmp_path / name
    shutil.copytree(EXAMPLES / name, copy, ignore=shutil.ignore_patterns("next", "stageline.toml"))
    text = starter_for(copy, ["v1.0.0"])
    (copy / "stageline.toml").write_text(text)
    written = load_pipeline(copy / "stageline.toml")
    declared = load_pipeline(EXAMPLES / name / "stageline.toml")
    ours, theirs = written.service, declared.service
    assert (ours.health, ours.release) == (theirs.health, theirs.release)
    # the examples add options of their own (django-pg: --workers 2): the command is a prefix
    assert theirs.start.startswith(ours.start.removesuffix(" --no-control-socket"))
    # the shop's own gate suite aside, what the example bundles init bundles, or carries
    # as the service's tests ([service.tests] paths)
    carried = set(ours.bundle) | {f"{path}/" for path in (ours.tests.paths if ours.tests else [])}
    assert set(theirs.bundle) - {"gates/"} <= carried
    for env in written.environments:
        assert env.postgres is not None
        theirs_db = {k: v for k, v in declared.environment(env.name).vars.items() if "${" in v}
        assert env.vars == theirs_db
    gates = written.environment("staging").gates
    assert gates["migrations"].options["tool"] == (
        declared.environment("staging").gates["migrations"].options.get("tool", "alembic")
    )
    assert [q for q in questions(text) if "tests/" not in q] == []
