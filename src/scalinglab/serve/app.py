"""The HTTP prediction server: FastAPI routes over a :class:`Predictor` and a batcher.

Routes:

- ``GET /health``: ``{"status": "ok"}``; always open, for load balancers.
- ``GET /metadata``: model directory, labels, fine-tuning method, metrics and limits.
- ``POST /predict``: ``{"texts": [...]}`` to one prediction per text, in order.

Every error, the framework's included (400, 404, 405), is JSON in one shape
(:mod:`scalinglab.serve.errors`) and the server stays up after any bad request. The gate
(:mod:`scalinglab.serve.gate`) checks the token, the concurrency limit and the body's size
and time before a route runs; :mod:`scalinglab.serve.validation` checks the body before
any text is queued for the model; :func:`run_server` adds header and shutdown deadlines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from scalinglab.finetune.predictor import Predictor
from scalinglab.serve.batching import MicroBatcher
from scalinglab.serve.errors import (
    InvalidRequestError,
    LimitExceededError,
    error_code,
    error_response,
)
from scalinglab.serve.gate import Gate
from scalinglab.serve.validation import PredictRequest, max_body_bytes, parse_predict_body

ROUTES = "GET /health, GET /metadata, POST /predict and GET /docs"


class PredictionOut(BaseModel):
    """One text's predicted label and the probability of every label."""

    label: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    """Body of a successful ``POST /predict``: one prediction per text, in input order."""

    labels: list[str]
    predictions: list[PredictionOut]


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
    device: str = "cpu",
    body_timeout_s: float = 30.0,
    limit_concurrency: int = 1024,
) -> FastAPI:
    """Build the app serving the classifier in ``model_dir`` (loaded now, not lazily).

    ``max_texts_per_request`` and ``max_chars_per_text`` (characters, not tokens) bound
    each request, and with them the body's bytes (:func:`max_body_bytes`);
    ``max_batch_size`` (texts) and ``max_wait_ms`` (milliseconds) bound the micro-batches
    that merge concurrent requests; ``micro_batching=False`` runs one forward pass per
    request. ``num_threads`` sets torch's CPU threads; ``device`` is where the model runs
    (auto, cpu, cuda or cuda:N). A body must arrive within
    ``body_timeout_s`` seconds of its headers, and at most ``limit_concurrency`` requests
    are in progress at once (others get 503).
    """
    for name, value in (
        ("max_texts_per_request", max_texts_per_request),
        ("max_chars_per_text", max_chars_per_text),
        ("max_batch_size", max_batch_size),
        ("limit_concurrency", limit_concurrency),
    ):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if body_timeout_s <= 0:
        raise ValueError(f"body_timeout_s must be positive, got {body_timeout_s}")
    predictor = Predictor(model_dir, device=device, num_threads=num_threads)
    batcher = MicroBatcher(
        predictor,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        enabled=micro_batching,
    )
    limits = {
        "max_texts_per_request": max_texts_per_request,
        "max_chars_per_text": max_chars_per_text,
        "max_body_bytes": max_body_bytes(max_texts_per_request, max_chars_per_text),
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "micro_batching": micro_batching,
        "body_timeout_s": body_timeout_s,
        "limit_concurrency": limit_concurrency,
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
    app.add_middleware(
        Gate,
        token=token,
        max_body_bytes=limits["max_body_bytes"],
        body_timeout_s=body_timeout_s,
        limit_concurrency=limit_concurrency,
    )

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
            "device": predictor.device,
            "checkpoint": predictor.metadata,
            "limits": limits,
            "auth": token is not None,
            "batches_run": batcher.batches_run,
            "texts_run": batcher.texts_run,
        }

    @app.post("/predict", openapi_extra=_PREDICT_BODY_SCHEMA)
    async def predict(request: Request) -> PredictResponse:
        """Classify ``texts``: one prediction per text, in input order."""
        texts = parse_predict_body(
            await request.body(),
            request.headers.get("content-type"),
            max_texts=max_texts_per_request,
            max_chars=max_chars_per_text,
        )
        predictions = await batcher.predict(texts)
        return PredictResponse(
            labels=predictor.labels,
            predictions=[
                PredictionOut(label=p.label, probabilities=p.probabilities) for p in predictions
            ],
        )

    return app


_PREDICT_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}
"""The documented body of ``/predict``, which the route parses itself (to check it all)."""


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LimitExceededError)
    async def limit_exceeded(_: Request, error: LimitExceededError) -> JSONResponse:
        return error_response(
            413,
            "limit_exceeded",
            error.detail,
            limit=error.limit,
            limit_value=error.limit_value,
            actual=error.actual,
        )

    @app.exception_handler(InvalidRequestError)
    async def invalid_request(_: Request, error: InvalidRequestError) -> JSONResponse:
        return error_response(422, "invalid_request", error.detail, problems=error.problems)

    @app.exception_handler(HTTPException)
    async def framework_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(
            error.status_code,
            error_code(error.status_code),
            _framework_detail(request, error),
            headers=error.headers,
        )

    @app.exception_handler(Exception)
    async def internal_error(_: Request, error: Exception) -> JSONResponse:
        return error_response(
            500,
            "internal_error",
            f"the server failed on this request ({type(error).__name__}); the traceback is in "
            "its log: report it with the request",
        )


def _framework_detail(request: Request, error: HTTPException) -> str:
    where = f"{request.method} {request.url.path}"
    if error.status_code == 404:
        return f"no route {where}; the routes are {ROUTES}"
    if error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "another method")
        return f"{where} is not allowed; use {allowed}; the routes are {ROUTES}"
    return f"{where}: {error.detail}"


def run_server(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    header_timeout_s: float = 10.0,
    shutdown_timeout_s: float = 10.0,
    **options: Any,
) -> None:
    """Serve :func:`create_app` (``options`` are its keywords) with uvicorn until stopped.

    Request headers must be complete ``header_timeout_s`` seconds after a connection
    opens (:mod:`scalinglab.serve.protocol`); on SIGTERM or Ctrl-C, requests in progress
    get ``shutdown_timeout_s`` seconds to finish before they are cancelled and the
    server exits.
    """
    import uvicorn

    from scalinglab.serve.protocol import guarded_h11_protocol  # uvicorn's, so imported here

    if shutdown_timeout_s <= 0:
        raise ValueError(f"shutdown_timeout_s must be positive, got {shutdown_timeout_s}")
    app = create_app(model_dir, **options)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=guarded_h11_protocol(header_timeout_s),
        timeout_graceful_shutdown=shutdown_timeout_s,  # type: ignore[arg-type]
    )
