"""The HTTP prediction server: FastAPI routes over a :class:`Predictor` and a batcher.

Routes:

- ``GET /health``: ``{"status": "ok"}``; always open, for load balancers.
- ``GET /metadata``: model directory, labels, fine-tuning method, metrics and limits.
- ``POST /predict``: ``{"texts": [...]}`` to one prediction per text, in order.

Bad requests get a 4xx whose JSON body says what was wrong (``error``, ``detail``) and,
for a limit, which limit, its value and the actual value. The server stays up after any
bad request. With a token, every route but ``/health`` needs
``Authorization: Bearer TOKEN`` (401 otherwise).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from scalinglab.finetune.predictor import Predictor
from scalinglab.serve.batching import MicroBatcher

BODY_OVERHEAD_BYTES = 65_536
"""Room for JSON syntax and escapes in the byte limit of a ``/predict`` body."""


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(min_length=1, description="Texts to classify, in order.")


class PredictionOut(BaseModel):
    """One text's predicted label and the probability of every label."""

    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    """Body of a successful ``POST /predict``: one prediction per text, in input order."""

    labels: list[str]
    predictions: list[PredictionOut]


class LimitExceededError(Exception):
    """A request over one of the server's limits; answered with 413."""

    def __init__(self, limit: str, limit_value: int, actual: int, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.limit_value = limit_value
        self.actual = actual
        self.detail = detail


def create_app(
    model_dir: str | Path,
    *,
    max_texts_per_request: int = 64,
    max_chars_per_text: int = 2000,
    token: str | None = None,
    max_batch_size: int = 64,
    max_wait_ms: float = 5.0,
    micro_batching: bool = True,
    num_threads: int | None = None,
) -> FastAPI:
    """Build the app serving the classifier in ``model_dir`` (loaded now, not lazily).

    ``max_texts_per_request`` and ``max_chars_per_text`` (characters, not tokens) bound
    each request; ``max_batch_size`` (texts) and ``max_wait_ms`` (milliseconds) bound the
    micro-batches that merge concurrent requests; ``micro_batching=False`` runs one
    forward pass per request. ``num_threads`` sets torch's CPU threads.
    """
    for name, value in (
        ("max_texts_per_request", max_texts_per_request),
        ("max_chars_per_text", max_chars_per_text),
        ("max_batch_size", max_batch_size),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    predictor = Predictor(model_dir, num_threads=num_threads)
    batcher = MicroBatcher(
        predictor,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        enabled=micro_batching,
    )
    limits = {
        "max_texts_per_request": max_texts_per_request,
        "max_chars_per_text": max_chars_per_text,
        "max_body_bytes": max_texts_per_request * max_chars_per_text * 4 + BODY_OVERHEAD_BYTES,
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "micro_batching": micro_batching,
    }

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="scalinglab classifier",
        description="Predictions of a classifier fine-tuned with scalinglab.",
        lifespan=lifespan,
    )
    app.state.predictor = predictor
    app.state.batcher = batcher
    _add_error_handlers(app)
    app.add_middleware(_Gate, token=token, max_body_bytes=limits["max_body_bytes"])

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the model is loaded and the server answers."""
        return {"status": "ok"}

    @app.get("/metadata")
    async def metadata() -> dict[str, Any]:
        """What is served: model, labels, method, metrics, limits and batching counts."""
        return {
            "model": str(predictor.model_dir),
            "labels": predictor.labels,
            "method": predictor.metadata.get("method"),
            "metrics": predictor.metadata.get("metrics"),
            "max_length_tokens": predictor.max_length,
            "checkpoint": predictor.metadata,
            "limits": limits,
            "auth": token is not None,
            "batches_run": batcher.batches_run,
            "texts_run": batcher.texts_run,
        }

    @app.post("/predict")
    async def predict(request: PredictRequest) -> PredictResponse:
        """Classify ``texts``: one prediction per text, in input order."""
        _check_limits(request.texts, max_texts_per_request, max_chars_per_text)
        predictions = await batcher.predict(request.texts)
        return PredictResponse(
            labels=predictor.labels,
            predictions=[
                PredictionOut(label=p.label, probabilities=p.probabilities) for p in predictions
            ],
        )

    return app


def _check_limits(texts: list[str], max_texts: int, max_chars: int) -> None:
    if len(texts) > max_texts:
        raise LimitExceededError(
            "max_texts_per_request",
            max_texts,
            len(texts),
            f"{len(texts)} texts in one request; the limit is {max_texts} "
            "(max_texts_per_request): split the request",
        )
    for index, text in enumerate(texts):
        if len(text) > max_chars:
            raise LimitExceededError(
                "max_chars_per_text",
                max_chars,
                len(text),
                f"text {index} has {len(text)} characters; the limit is {max_chars} "
                "(max_chars_per_text): shorten it",
            )


class _Gate:
    """ASGI middleware run before routing: bearer token, then body size.

    With a token, every route but ``/health`` needs ``Authorization: Bearer TOKEN`` (401
    otherwise), checked before the body is parsed so that a client without the token
    learns nothing about the API. A body whose ``Content-Length`` is over
    ``max_body_bytes`` is refused (413) before it is read, so it costs no memory.
    """

    def __init__(self, app: Any, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = None if token is None else token.encode()
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            response = self._refusal(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: dict) -> JSONResponse | None:
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] != "/health":
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                response = _error(
                    401,
                    "unauthorized",
                    "missing or wrong token: send the header 'Authorization: Bearer TOKEN'",
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body_bytes:
            return _error(
                413,
                "limit_exceeded",
                f"request body of {int(length)} bytes; the limit is {self.max_body_bytes} "
                "bytes (max_body_bytes): send fewer or shorter texts",
                limit="max_body_bytes",
                limit_value=self.max_body_bytes,
                actual=int(length),
            )
        return None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LimitExceededError)
    async def limit_exceeded(_: Request, error: LimitExceededError) -> JSONResponse:
        return _error(
            413,
            "limit_exceeded",
            error.detail,
            limit=error.limit,
            limit_value=error.limit_value,
            actual=error.actual,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_describe(problem) for problem in error.errors()]
        content_type = request.headers.get("content-type")
        if content_type and "json" not in content_type:
            problems.insert(0, f"Content-Type is {content_type}, not application/json")
        return _error(
            422,
            "invalid_request",
            "; ".join(problems) + '; send JSON like {"texts": ["first text", "second text"]}',
            problems=problems,
        )


def _describe(problem: dict[str, Any]) -> str:
    location = list(problem.get("loc", ()))
    if problem.get("type") == "json_invalid":
        reason = problem.get("ctx", {}).get("error", "invalid JSON")
        return f"the body is not valid JSON ({reason} at character {location[-1]})"
    where = ".".join(str(part) for part in location)
    return f"{where}: {problem.get('msg', 'invalid')}"


def _error(status: int, error: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail, **extra})


def run_server(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serve :func:`create_app` (``options`` are its keywords) with uvicorn until stopped."""
    import uvicorn

    app = create_app(model_dir, **options)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
