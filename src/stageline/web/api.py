"""The JSON API: everything the pages show, and signing off, for CI and chat tools.

Reads need a bearer token or a session, unless ``[dashboard] anonymous = "read"`` (on a
loopback address only). ``POST /api/environments/{env}/verdicts`` takes ``Authorization: Bearer
<personal token>`` only (never the cookie, so no CSRF). Errors are
``{"error": ..., "hint": ...}`` with 400, 401, 403 or 404. ``/api/openapi.json``
describes it all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stageline.errors import Refused, StagelineError, UsageError
from stageline.state import VerdictKind
from stageline.usecases.verification import give_verdict
from stageline.usecases.views import signoff_view
from stageline.web import views
from stageline.web.auth import bearer_person, signed_in
from stageline.web.dashboard import Dashboard, dashboard_of
from stageline.web.openapi import document
from stageline.web.pages import status_for


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "hint": hint or ""}, status_code=status)


def _fail(exc: StagelineError) -> JSONResponse:
    return _error(status_for(exc), str(exc), exc.hint)


def _reader(request: Request, dash: Dashboard) -> JSONResponse | None:
    """None when this caller may read; a 401 when anonymous reading is off and it is one."""
    if dash.anonymous() != "none" or signed_in(request, dash.store) is not None:
        return None
    try:
        if bearer_person(request, dash.store) is not None:
            return None
    except Refused as exc:
        return _error(401, str(exc), exc.hint)
    return _error(
        401,
        "this dashboard is not open to anonymous readers",
        "send Authorization: Bearer <personal token> (`stageline tokens create`)",
    )


def _read(build: Callable[[Request, Dashboard], Any]) -> Callable[[Request], Any]:
    def endpoint(request: Request) -> Response:
        dash = dashboard_of(request)
        if (refused := _reader(request, dash)) is not None:
            return refused
        try:
            return JSONResponse(build(request, dash))
        except StagelineError as exc:
            return _fail(exc)
        except ValueError:
            return _error(400, "limit must be a number")

    return endpoint


def _pipeline(request: Request, dash: Dashboard) -> Any:
    return dash.view().to_json()


def _release(request: Request, dash: Dashboard) -> Any:
    session = dash.session()
    return views.release_view(session, views.find_release(session, request.path_params["digest"]))


def _history(request: Request, dash: Dashboard) -> Any:
    q = request.query_params
    limit = int(q.get("limit") or 100)
    return views.history_view(dash.session(), q.get("environment"), q.get("status"), limit)


def _metrics(request: Request, dash: Dashboard) -> Any:
    days = max(1, min(int(request.query_params.get("days") or 30), 365))
    return dash.memo(("metrics", days), lambda: views.metrics_view(dash.session(), days))


def _audit(request: Request, dash: Dashboard) -> Any:
    q = request.query_params
    return views.audit_view(dash.session(), q.get("environment"), int(q.get("limit") or 100))


async def verdict(request: Request) -> Response:
    """Approve or reject the digest running in ``env``, as the token's person."""
    dash = dashboard_of(request)
    try:
        person = await run_in_threadpool(bearer_person, request, dash.store)
    except Refused as exc:
        return _error(401, str(exc), exc.hint)
    if person is None:
        return _error(
            401,
            "send Authorization: Bearer <personal token>",
            "`stageline tokens create NAME` makes one",
        )
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return _error(400, "the body is not JSON", '{"kind": "approve", "note": "..."}')
    if not isinstance(body, dict) or body.get("kind") not in ("approve", "reject"):
        return _error(400, "kind must be approve or reject", '{"kind": "approve", "note": "..."}')
    note = body.get("note", "")
    if not isinstance(note, str):
        return _error(400, "note must be a string")
    digest = body.get("digest")
    if digest is not None and not isinstance(digest, str):
        return _error(400, "digest must be a string", "the digest you mean (or a unique prefix)")
    environment = request.path_params["env"]
    try:
        given = await run_in_threadpool(
            give_verdict,
            dash.session(),
            environment,
            cast(VerdictKind, body["kind"]),
            note=note.strip(),
            person=person,
            digest=digest,
        )
        session = dash.session()
        signoff = await run_in_threadpool(signoff_view, session, session.pipeline())
    except StagelineError as exc:
        return _fail(exc)
    except ValueError as exc:
        return _fail(UsageError(str(exc)))
    data = {
        "verdict": {
            "id": given.id,
            "environment": given.environment,
            "digest": given.digest,
            "person": given.person,
            "kind": given.kind,
            "note": given.note,
            "at": given.at.isoformat(),
        },
        "signoff": signoff.to_json(),
    }
    return JSONResponse(data, status_code=201)


def openapi(request: Request) -> Response:
    return JSONResponse(document())


def routes() -> list[Route]:
    return [
        Route("/api/pipeline", _read(_pipeline)),
        Route("/api/releases/{digest}", _read(_release)),
        Route("/api/history", _read(_history)),
        Route("/api/metrics", _read(_metrics)),
        Route("/api/audit", _read(_audit)),
        Route("/api/environments/{env}/verdicts", verdict, methods=["POST"]),
        Route("/api/openapi.json", openapi),
    ]
