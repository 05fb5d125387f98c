"""Routes read from the code, the health route, and whether a handler needs the database."""

from __future__ import annotations

from pathlib import Path

from stageline.config.detect.framework import find_app
from stageline.config.detect.routes import Health, Route, choose_health, project_routes
from tests.config.detect.shapes import DJANGO_STATIC, FLASK_REDIS, MONOREPO_FASTAPI, make


def test_mount_prefixes_are_followed_through_routers_and_settings(tmp_path: Path) -> None:
    tree = make(tmp_path, MONOREPO_FASTAPI)
    found = project_routes(tree, find_app(tree), "backend")
    assert {(r.path, r.touches_database, r.uncertain) for r in found} == {
        ("/api/v1/utils/health-check/", True, False),
        ("/api/v1/items/{item_id}", False, False),
    }
    assert choose_health(found) == Health("/api/v1/utils/health-check/", "health route", True, "")


def test_a_prefix_init_cannot_read_makes_the_path_a_question(tmp_path: Path) -> None:
    files = {**MONOREPO_FASTAPI}
    files["backend/app/main.py"] = files["backend/app/main.py"].replace(
        "prefix=settings.API_V1_STR", "prefix=get_prefix()"
    )
    tree = make(tmp_path, files)
    health = choose_health(project_routes(tree, find_app(tree), "backend"))
    assert health.path == "/utils/health-check/"
    assert "prefix init could not read" in health.question


def test_django_patterns_are_followed_through_include(tmp_path: Path) -> None:
    tree = make(tmp_path, DJANGO_STATIC)
    found = project_routes(tree, find_app(tree), "")
    assert [(r.path, r.handler, r.touches_database) for r in found] == [
        ("/admin/", "urls", False), ("/health/", "health", True), ("/", "home", False),
        ("/article/<int:pk>/", "article", False),
    ]  # fmt: skip
    assert choose_health(found).path == "/health/"


def test_flask_blueprint_routes_skip_post_only_ones(tmp_path: Path) -> None:
    tree = make(tmp_path, FLASK_REDIS)
    found = project_routes(tree, find_app(tree), "")
    assert [(r.path, r.touches_database) for r in found] == [("/healthz", True)]


def route(path: str, touches: bool = False, uncertain: bool = False) -> Route:
    return Route(path, "handler", "app.py", touches, uncertain, "{" in path)


def test_a_health_route_that_reads_the_database_wins() -> None:
    found = [route("/status"), route("/healthz"), route("/ready", touches=True)]
    assert choose_health(found).path == "/ready"
    only = choose_health([route("/healthz")])
    assert only.path == "/healthz" and "does not seem to touch the database" in only.question


def test_without_a_health_route_a_page_that_reads_the_database_is_used() -> None:
    found = [route("/"), route("/books/{id}", touches=True), route("/books", touches=True)]
    health = choose_health(found)
    assert (health.path, health.touches_database) == ("/books", True)
    assert "no health route found" in health.question


def test_nothing_found_is_the_root_with_a_question() -> None:
    health = choose_health([])
    assert health.path == "/" and health.question


def test_starlette_route_lists(tmp_path: Path) -> None:
    tree = make(tmp_path, {
        "requirements.txt": "starlette\nuvicorn\n",
        "app.py": "from starlette.applications import Starlette\n"
        "from starlette.routing import Route\n\n"
        "async def health(request):\n    await request.app.state.db.execute('SELECT 1')\n\n"
        "async def home(request):\n    return None\n\n"
        "app = Starlette(routes=[Route('/health', health), Route('/', home)])\n",
    })  # fmt: skip
    entry = find_app(tree)
    assert entry is not None and entry.framework == "starlette"
    found = project_routes(tree, entry, "")
    assert [(r.path, r.touches_database) for r in found] == [("/health", True), ("/", False)]
