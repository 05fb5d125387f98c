"""Refuse request bodies over a cap before a handler reads them whole.

The dashboard's handlers read a body at once (``request.body()``): a form's fields, the
API's JSON. :class:`BodyLimit` stands in front of them: a body announced
(``Content-Length``) or sent larger than :data:`~stageline.limits.REQUEST_BODY_LIMIT`
gets ``413`` at once, and no handler runs, so nothing is stored. A body within the cap
is read by the middleware (at most the cap is ever held) and handed on unchanged.
Requests without a body (GET, the event stream) pass straight through.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stageline.limits import REQUEST_BODY_LIMIT

_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}


class BodyLimit:
    """Pure ASGI middleware: ``413`` for a request body over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, limit: int = REQUEST_BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        if _announced(scope) > self.limit:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is over the {self.limit:,}-byte cap; nothing was stored"
        response: Response
        if str(scope.get("path", "")).startswith("/api/"):
            response = JSONResponse({"error": message, "hint": "send less"}, status_code=413)
        else:
            response = PlainTextResponse(message + "\n", status_code=413)
        await response(scope, receive, send)


def _announced(scope: Scope) -> int:
    """The body's ``Content-Length``, or 0 when absent or malformed (then it is counted)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
