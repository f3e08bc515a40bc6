"""ASGI middleware in front of the routes: token, concurrency, body size and body time.

For each HTTP request, in this order and before any route runs:

1. With a token, every route but ``/health`` needs ``Authorization: Bearer TOKEN`` (401
   otherwise), compared in constant time and checked before the body is read, so a
   client without the token learns nothing about the API.
2. At most ``limit_concurrency`` requests are in progress at once (``/health`` is not
   counted); one more gets 503 with ``Retry-After``, before its body is read.
3. A ``Content-Length`` over ``max_body_bytes`` gets 413 before the body is read.
4. The body is read here, counting bytes as they arrive, whatever the transfer encoding
   (``Content-Length`` or chunked): past ``max_body_bytes`` the request gets 413 at once
   and the connection is closed, so the server never holds more than the limit of one
   body; a body not complete ``body_timeout_s`` seconds after the headers gets 408, so a
   client trickling bytes cannot hold a request open.

The route then reads the body from memory as usual. A request that the server cancels
at shutdown before answering it gets 503 (``shutting_down``) rather than a plain-text 500.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

from scalinglab.serve.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/health"})
"""Routes that need no token and do not count against the concurrency limit."""

CLOSE = {"Connection": "close"}


class Gate:
    """The middleware described in the module docstring; one instance per app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_body_bytes: int,
        body_timeout_s: float,
        limit_concurrency: int,
    ) -> None:
        self.app = app
        self.token = None if token is None else token.encode()
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.limit_concurrency = limit_concurrency
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        refusal = self._unauthorized(scope) or self._overloaded() or self._declared_too_large(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self._answer_even_if_cancelled(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _answer_even_if_cancelled(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request; if the server cancels it (a shutdown past its deadline) before
        a response has started, answer 503 in the error shape and end the request there."""
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._read_then_call(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if started:
                raise
            response = error_response(
                503,
                "shutting_down",
                "the server is shutting down and cancelled this request: send it again "
                "once the server is back",
                headers=CLOSE,
            )
            await response(scope, receive, send)

    async def _read_then_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._read_body(receive)
        if isinstance(body, JSONResponse):
            await body(scope, receive, send)
        elif body is not None:
            await self.app(scope, _replay(body, receive), send)

    def _unauthorized(self, scope: Scope) -> JSONResponse | None:
        if self.token is None:
            return None
        scheme, _, given = _header(scope, b"authorization").partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token):
            return None
        return error_response(
            401,
            "unauthorized",
            "missing or wrong token: send the header 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )

    def _overloaded(self) -> JSONResponse | None:
        if self.in_progress < self.limit_concurrency:
            return None
        return error_response(
            503,
            "overloaded",
            f"{self.in_progress} requests in progress; the limit is {self.limit_concurrency} "
            "(limit_concurrency): retry after a second",
            headers={"Retry-After": "1"},
            limit="limit_concurrency",
            limit_value=self.limit_concurrency,
            actual=self.in_progress + 1,
        )

    def _declared_too_large(self, scope: Scope) -> JSONResponse | None:
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return self._too_large(int(length), "")
        return None

    def _too_large(self, actual: int, qualifier: str) -> JSONResponse:
        return error_response(
            413,
            "limit_exceeded",
            f"request body of {qualifier}{actual} bytes; the limit is {self.max_body_bytes} "
            "bytes (max_body_bytes): send fewer or shorter texts",
            headers=CLOSE,
            limit="max_body_bytes",
            limit_value=self.max_body_bytes,
            actual=actual,
        )

    async def _read_body(self, receive: Receive) -> bytes | JSONResponse | None:
        """The whole body, a refusal (413, 408), or ``None`` if the client went away."""
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        more_body = True
        while more_body:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                return self._too_slow(len(body))
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                return self._too_large(len(body), "at least ")
            more_body = message.get("more_body", False)
        return bytes(body)

    def _too_slow(self, received: int) -> JSONResponse:
        return error_response(
            408,
            "request_timeout",
            f"the body was not complete {self.body_timeout_s:g} s after the headers "
            f"({received} bytes received; body_timeout_s): send the whole body at once",
            headers=CLOSE,
            limit="body_timeout_s",
            limit_value=self.body_timeout_s,
            received_bytes=received,
        )


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return b""


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body read by the gate, then the real one
    (which reports the client's disconnect)."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
