"""examples/django-static shipped as it is (issue 20): a Django tree with no packaging,
direct pins in requirements.txt (the build resolves the rest), ``collectstatic`` and
``compress`` (COMPRESS_OFFLINE) as build steps, DB_* variables, Django migrations, tests
needing requirements-dev.txt; tags ``1.0.0``, ``1.1.0``."""

from __future__ import annotations

import re

import httpx
import pytest
from tests.examples.journey import Example, adopted, ship_story

pytestmark = pytest.mark.slow


def serves_the_compressed_css(client: httpx.Client, password: str) -> None:
    """The page links the one CSS file ``compress`` made at build time from both of the
    app's stylesheets (collected by ``collectstatic``), and whitenoise serves it."""
    page = client.get("/")
    assert page.status_code == 200, page.text
    linked = re.search(r'href="(/static/CACHE/css/output\.[0-9a-f]+\.css)"', page.text)
    assert linked, page.text
    css = client.get(linked.group(1))
    assert css.status_code == 200
    assert "font-family" in css.text and "border-bottom" in css.text


DJANGO = Example(
    name="django-static",
    init_finds=("noticeboard.wsgi", "collectstatic", "compress", "DB_HOST", "${postgres.host}"),
    migration_tool="django",
    test_dependencies='requirements = "requirements-dev.txt"',
    login_path="/login/",
    token_field=None,
    users_path="/members/",
    health_path="/health/",
    v2_key="city",
    production_checks=(serves_the_compressed_css,),
)


def test_django_static_ships_from_its_own_tags() -> None:
    with adopted(DJANGO) as repo:
        ship_story(DJANGO, repo)
