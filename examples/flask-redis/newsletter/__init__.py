"""The newsletter: a Flask app factory (``create_app``), Flask-SQLAlchemy models migrated
by Flask-Migrate (``migrations/``), Flask-Babel translations compiled at build time
(``pybabel compile -d newsletter/translations``), and a Redis list of welcome jobs that
``python -m worker`` consumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from flask_babel import Babel
from flask_migrate import Migrate

from newsletter.config import settings_from
from newsletter.models import db

LANGUAGES = ("en", "fr")


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(settings_from())
    app.config.update(overrides or {})
    db.init_app(app)
    Migrate(app, db)
    Babel(app, locale_selector=lambda: request.accept_languages.best_match(LANGUAGES))
    from newsletter.views import pages

    app.register_blueprint(pages)
    return app
