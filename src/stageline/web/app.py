"""The dashboard's application: ``create_app(root)`` for ``stageline serve`` and the tests.

One :class:`Dashboard` per app holds what outlives a request: the workspace, the state
store's connection pool, the parsed pipeline file (re-read when the file changes), the
health cache and the templates. Each request gets its own :class:`WebSession` (the
library's ``Session`` over that pool), and every use case is the library's own function:
``signoff_for``, ``give_verdict``, ``metrics_for``. Pages: ``pages.py``; the JSON API:
``api.py``; live updates: :func:`events` (server-sent events).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from jinja2 import Environment as Templates
from jinja2 import PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stageline.artifacts import ArtifactStore
from stageline.config import load_pipeline
from stageline.errors import StagelineError
from stageline.host.repo_guard import make_home
from stageline.host.workspace import Workspace
from stageline.state import Store
from stageline.values import age, short
from stageline.web import api, charts, pages
from stageline.web.auth import signed_in, signing_key
from stageline.web.body_limit import BodyLimit
from stageline.web.dashboard import POLL_SECONDS, Dashboard, dashboard_of
from stageline.web.exposure import check_exposure, is_loopback

STATIC = Path(__file__).parent / "static"


def templates() -> Templates:
    env = Templates(
        loader=PackageLoader("stageline.web", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        bars=charts.bars,
        columns=charts.columns,
        timeline=charts.timeline,
        lines=charts.lines,
        short=short,
    )
    env.filters["age"] = age
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True)
    return env


async def events(request: Request) -> Response:
    """``text/event-stream``: ``event: changed`` whenever the fingerprint moves."""
    dash = dashboard_of(request)
    if (
        dash.anonymous() == "none"
        and await run_in_threadpool(signed_in, request, dash.store) is None
    ):
        return JSONResponse({"error": "sign in first", "hint": "/signin"}, status_code=401)

    async def stream() -> AsyncIterator[str]:
        last = await run_in_threadpool(dash.fingerprint)
        yield "retry: 2000\n: connected\n\n"
        quiet = 0
        while True:
            await asyncio.sleep(POLL_SECONDS)
            now = await run_in_threadpool(dash.fingerprint)
            if now != last:
                last, quiet = now, 0
                yield f"event: changed\ndata: {json.dumps({'event': now[0]})}\n\n"
            else:
                quiet += 1
                if quiet % 15 == 0:  # keep proxies from closing an idle stream
                    yield ": keep-alive\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


#: no framing (a sign-off button under someone else's page), no MIME sniffing
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def stageline_error(request: Request, exc: Exception) -> Response:
    """An error from the library no handler caught (a pipeline file broken while serving,
    a store that went away): JSON under /api, a plain page elsewhere; never a traceback."""
    assert isinstance(exc, StagelineError)
    status = pages.status_for(exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc), "hint": exc.hint or ""}, status_code=status)
    text = f"{exc}\n{exc.hint or ''}".strip() + "\n"
    return PlainTextResponse(text, status_code=status)


def create_app(
    root: Path, *, secret_key: bytes | None = None, host: str = "127.0.0.1"
) -> Starlette:
    """The dashboard for the service at ``root`` (the folder holding the pipeline file),
    to be served on ``host``. Refused when ``host`` is not loopback and the pipeline file
    lets anonymous visitors read (see :func:`check_exposure`)."""
    workspace = Workspace.at(root)
    make_home(workspace.root, workspace.home)
    pipe = load_pipeline(workspace.root)  # a broken pipeline file fails here, with every issue
    check_exposure(host, pipe.dashboard.anonymous)
    store = Store.open(workspace.state_url)
    dash = Dashboard(workspace.root, workspace, store, ArtifactStore(workspace.artifacts))
    dash.public = not is_loopback(host)
    key = secret_key or signing_key(workspace.home)
    routes = [
        *pages.routes(),
        *api.routes(),
        Route("/events", events),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(BodyLimit),
        Middleware(
            SessionMiddleware,
            secret_key=key.hex(),
            session_cookie="stageline_session",
            same_site="lax",
            https_only=False,
            max_age=12 * 3600,
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={StagelineError: stageline_error},
    )
    app.state.dashboard = dash
    app.state.templates = templates()
    return app
