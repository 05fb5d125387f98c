"""The HTML pages: pipeline, release, history, metrics, sign-in, and the sign-off form.

Handlers only read the request, call the library (through ``views`` or
``verification.give_verdict``) and render a template. Anonymous visitors see the
sign-in page only, unless ``[dashboard] anonymous = "read"`` (honoured on loopback only,
see ``exposure.py``); signing off needs a session and the session's CSRF token.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import parse_qs, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from stageline.errors import (
    ArtifactNotFound,
    ConfigError,
    Refused,
    StagelineError,
    UnknownName,
    UsageError,
)
from stageline.state import VerdictKind
from stageline.usecases.verification import give_verdict
from stageline.usecases.views import signoff_view
from stageline.web import views
from stageline.web.auth import csrf_ok, csrf_token, end_session, sign_in, signed_in
from stageline.web.dashboard import Dashboard, dashboard_of


def _dash(request: Request) -> Dashboard:
    return dashboard_of(request)


def status_for(exc: StagelineError) -> int:
    """The HTTP status of an error from the library."""
    if isinstance(exc, ArtifactNotFound | UnknownName):
        return 404
    if isinstance(exc, ConfigError):
        return 500
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, Refused):
        return 403
    return 503


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    dash = _dash(request)
    template = request.app.state.templates.get_template(name)
    body = template.render(
        user=signed_in(request, dash.store),
        csrf=csrf_token(request),
        anonymous=dash.anonymous(),
        service=dash.pipeline().service.name,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(body, status_code=status)


def _error(request: Request, exc: StagelineError) -> HTMLResponse:
    return render(request, "error.html", status_for(exc), message=str(exc), hint=exc.hint or "")


def _gate(request: Request) -> Response | None:
    """Anonymous visitors see nothing but the sign-in page when the pipeline file says so."""
    dash = _dash(request)
    if dash.anonymous() == "none" and signed_in(request, dash.store) is None:
        return RedirectResponse(f"/signin?next={quote(request.url.path)}", status_code=303)
    return None


def pipeline_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    view = _dash(request).view().to_json()
    return render(request, "pipeline.html", view=view)


def pipeline_fragment(request: Request) -> Response:
    if _gate(request) is not None:
        return Response(status_code=401)
    view = _dash(request).view().to_json()
    return render(request, "_pipeline.html", view=view)


def release_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    session = _dash(request).session()
    try:
        artifact = views.find_release(session, request.path_params["digest"])
        view = views.release_view(session, artifact)
        signoff = _signoff_here(session, artifact.digest)
    except StagelineError as exc:
        return _error(request, exc)
    return render(request, "release.html", view=view, signoff=signoff)


def _signoff_here(session: Any, digest: str) -> dict[str, Any] | None:
    """The sign-off box for the release page, when this digest is the one waiting."""
    view = signoff_view(session, session.pipeline()).to_json()
    return view if view["digest"] == digest else None


def history_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    query = request.query_params
    try:
        limit = int(query.get("limit") or 100)
        view = views.history_view(
            _dash(request).session(), query.get("environment"), query.get("status"), limit
        )
    except ValueError:
        return _error(request, UsageError("limit must be a number"))
    except StagelineError as exc:
        return _error(request, exc)
    return render(request, "history.html", view=view)


def metrics_page(request: Request) -> Response:
    if (refused := _gate(request)) is not None:
        return refused
    try:
        days = max(1, min(int(request.query_params.get("days") or 30), 365))
    except ValueError:
        days = 30
    dash = _dash(request)
    view = dash.memo(("metrics", days), lambda: views.metrics_view(dash.session(), days))
    return render(request, "metrics.html", view=view)


# -- signing in and out ----------------------------------------------------------------------


def signin_page(request: Request) -> Response:
    return render(request, "signin.html", next=_next(request.query_params.get("next")), error="")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _next(value: str | None) -> str:
    """Only a path on this site (no ``//host``): an open redirect is a phishing tool."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def signin(request: Request) -> Response:
    form = await _form(request)
    target = _next(form.get("next"))
    if not csrf_ok(request, form.get("csrf_token")):
        return render(request, "signin.html", 403, next=target, error="the form expired: try again")
    store = _dash(request).store
    try:
        await run_in_threadpool(sign_in, request, store, form.get("token", ""))
    except Refused as exc:
        return render(request, "signin.html", 401, next=target, error=str(exc))
    return RedirectResponse(target, status_code=303)


async def signout(request: Request) -> Response:
    form = await _form(request)
    if not csrf_ok(request, form.get("csrf_token")):
        return render(
            request, "error.html", 403, message="the form expired", hint="reload the page"
        )
    await run_in_threadpool(end_session, request, _dash(request).store)
    return RedirectResponse("/", status_code=303)


# -- signing off -----------------------------------------------------------------------------


async def verdict(request: Request) -> Response:
    """``POST /environments/{env}/verdicts``: approve or reject the release the page showed
    (the form's ``digest``), under the CLI's rules; refused unless that release serves."""
    dash = _dash(request)
    htmx = request.headers.get("hx-request") == "true"
    form = await _form(request)
    person = await run_in_threadpool(signed_in, request, dash.store)
    if person is None:
        return _verdict_error(request, htmx, 401, "sign in to sign off", form)
    if not csrf_ok(request, form.get("csrf_token")):
        return _verdict_error(request, htmx, 403, "the form's CSRF token is missing or wrong", form)
    kind = form.get("kind", "")
    if kind not in ("approve", "reject"):
        return _verdict_error(request, htmx, 400, "kind must be approve or reject", form)
    environment = request.path_params["env"]
    note = form.get("note", "").strip()
    digest = form.get("digest", "").strip()
    if not digest:  # the form carries the digest of the release the page showed
        return _verdict_error(
            request, htmx, 400, "the form does not name the release; reload the page", form
        )
    try:
        given = await run_in_threadpool(
            give_verdict,
            dash.session(),
            environment,
            cast(VerdictKind, kind),
            note=note,
            person=person,
            digest=digest,
        )
    except StagelineError as exc:
        return _verdict_error(request, htmx, status_for(exc), str(exc), form)
    if not htmx:
        return RedirectResponse(_next(form.get("next")), status_code=303)
    done = "approved" if given.kind == "approve" else "rejected"
    response = render(request, "_verdict_result.html", error="", message=f"{done} as {person}")
    response.headers["HX-Trigger"] = "verdict-given"
    return response


def _verdict_error(
    request: Request, htmx: bool, status: int, message: str, form: dict[str, str]
) -> Response:
    if htmx:
        return render(request, "_verdict_result.html", status, error=message, message="")
    return render(
        request,
        "error.html",
        status,
        message=message,
        hint="",
        back=_next(form.get("next")),
        testid="verdict-error",
    )


def routes() -> list[Route]:
    return [
        Route("/", pipeline_page),
        Route("/fragments/pipeline", pipeline_fragment),
        Route("/releases/{digest}", release_page),
        Route("/history", history_page),
        Route("/metrics", metrics_page),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/environments/{env}/verdicts", verdict, methods=["POST"]),
    ]
