"""examples/monorepo-fastapi shipped as it is (issue 20): a FastAPI package in the
``backend/`` folder of a uv workspace whose lock sits at the workspace root, configured by
POSTGRES_*, Alembic under ``backend/app/alembic``, tests needing the ``dev`` dependency
group; tags ``backend-v*``, both releases version 0.1.0 (so only the tag tells them apart:
the rollback names it)."""

from __future__ import annotations

import pytest
from tests.examples.journey import Example, adopted, ship_story

pytestmark = pytest.mark.slow

MONOREPO = Example(
    name="monorepo-fastapi",
    init_finds=(
        'root = "backend"',
        "app.main:app",
        "/api/v1/utils/health-check/",
        "POSTGRES_HOST",
        "${postgres.host}",
        "backend-v",
    ),
    migration_tool="alembic",
    test_dependencies='group = "dev"',
    login_path="/api/v1/login/access-token",
    token_field="access_token",
    users_path="/api/v1/users/",
    health_path="/api/v1/utils/health-check/",
    v2_key="full_name",
    rollback=("--to", "backend-v0.9.0", "--migrate"),
)


def test_monorepo_fastapi_ships_from_its_own_tags() -> None:
    with adopted(MONOREPO) as repo:
        ship_story(MONOREPO, repo)
