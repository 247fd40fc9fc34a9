"""A 413 for request bodies over serve.max_body_bytes, before the app reads them.

Plain ASGI middleware, kept apart from the routes in app.py; `error_json` is the one error shape
both answer with.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# An oversized body is read and dropped up to this many times serve.max_body_bytes before the
# 413 goes out (see BodySizeLimit); past that the connection is simply closed.
DISCARD_FACTOR = 4


def error_json(
    status: int,
    error: str,
    detail: str,
    file: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The service's error answer: `{"error": <code>, "detail": <what to do>, "file": <name>}`."""
    return JSONResponse(
        {"error": error, "detail": detail, "file": file}, status_code=status, headers=headers
    )


class BodySizeLimit:
    """Refuse request bodies over `max_body_bytes` with 413, declared or streamed.

    A body is never kept past the limit. Before answering, the rest of it (up to
    DISCARD_FACTOR times the limit) is read and dropped: closing on a client that is still
    sending resets the connection, and the client would never see the 413. A client that sent
    `Expect: 100-continue` is answered before it sends anything.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        # The HTTP server has already refused a malformed Content-Length.
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            if headers.get(b"expect", b"").lower() != b"100-continue":
                await self._discard(receive)
            response = error_json(
                413, "request_too_large", self._too_large_detail(), headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                if message.get("more_body"):
                    await self._discard(receive)
                raise HTTPException(413, self._too_large_detail(), {"Connection": "close"})
            return message

        await self.app(scope, counted_receive, send)

    async def _discard(self, receive: Receive) -> None:
        discarded = 0
        while discarded <= DISCARD_FACTOR * self.max_body_bytes:
            message = await receive()
            discarded += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                return

    def _too_large_detail(self) -> str:
        return f"request body over {self.max_body_bytes} bytes (params.yaml serve.max_body_bytes)"
