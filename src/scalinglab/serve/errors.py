"""The server's one error shape: JSON ``{"error": CODE, "detail": SENTENCE, ...}``.

Every refusal, from the HTTP parser (400, 408) through the gate (401, 408, 413, 503) to
the routes (404, 405, 413, 422, 500), uses this shape, so a client parses one format.
``error`` is a stable code a program can branch on; ``detail`` says what to fix; a
refusal caused by a limit adds ``limit`` (its name), ``limit_value`` and ``actual``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse


class LimitExceededError(Exception):
    """A request over one of the server's limits; answered with 413."""

    def __init__(self, limit: str, limit_value: int, actual: int, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.limit_value = limit_value
        self.actual = actual
        self.detail = detail


class InvalidRequestError(Exception):
    """A ``/predict`` body that is not what the API accepts; answered with 422.

    ``problems`` holds one line per problem, each saying where (``body.texts.1``) and what.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.detail = "; ".join(problems) + '; send JSON like {"texts": ["first text", "second"]}'
        super().__init__(self.detail)


def error_body(error: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The JSON object of an error: ``error`` code, ``detail`` sentence, extra fields."""
    return {"error": error, "detail": detail, **extra}


def error_response(
    status: int,
    error: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An ASGI response carrying :func:`error_body`."""
    return JSONResponse(
        status_code=status, content=error_body(error, detail, **extra), headers=headers
    )


def raw_error_response(status: int, error: str, detail: str, **extra: Any) -> bytes:
    """A whole HTTP/1.1 response (head and body) for a connection about to be closed.

    For the protocol layer, which answers before any ASGI app runs (malformed HTTP, slow
    headers) and writes bytes to the socket itself.
    """
    body = json.dumps(error_body(error, detail, **extra)).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def error_code(status: int) -> str:
    """The ``error`` code for a status without a more specific one: 404 -> ``not_found``."""
    return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
