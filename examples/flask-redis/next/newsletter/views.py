"""Pages: the greeting (translated), the health check (touches the database), the admin's
login (ADMIN_PASSWORD, a session cookie) and subscribers (registering needs the login and
queues a welcome job)."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, request, session
from flask_babel import gettext as _
from newsletter import LANGUAGES
from newsletter.models import Subscriber, db
from newsletter.queue import enqueue_welcome
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

pages = Blueprint("pages", __name__)


@pages.get("/")
def home() -> Any:
    return jsonify(greeting=_("Welcome to the newsletter"))


@pages.get("/healthz")
def healthz() -> Any:
    try:
        count = db.session.scalar(select(func.count()).select_from(Subscriber))
    except SQLAlchemyError as exc:
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok", subscribers=count)


@pages.post("/login")
def login() -> Any:
    expected = current_app.config["ADMIN_PASSWORD"]
    password = request.form.get("password", "")
    if request.form.get("username") != "admin" or not expected:
        abort(401)
    if not hmac.compare_digest(password.encode(), expected.encode()):
        abort(401)
    session.clear()
    session["admin"] = True
    return redirect("/")


@pages.post("/subscribers")
def subscribe() -> Any:
    if not session.get("admin"):
        return jsonify(error="log in first"), 403
    name = str((request.get_json(silent=True) or {}).get("name", "")).strip()
    if not 2 <= len(name) <= 63:
        return jsonify(error="a name is 2-63 characters"), 400
    language = request.accept_languages.best_match(LANGUAGES) or "en"
    subscriber = Subscriber(name=name, language=language)
    db.session.add(subscriber)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return jsonify(error=f"the name {name!r} is taken"), 409
    enqueue_welcome(current_app, subscriber.id)
    return jsonify(subscriber.public()), 201


@pages.get("/subscribers/<name>")
def read(name: str) -> Any:
    subscriber = db.session.scalars(select(Subscriber).where(Subscriber.name == name)).first()
    if subscriber is None:
        abort(404)
    return jsonify(subscriber.public())
