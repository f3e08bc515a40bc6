"""``scalinglab serve``: an HTTP endpoint (FastAPI + uvicorn) for a fine-tuned classifier."""

from __future__ import annotations

from typing import Annotated

import typer

from scalinglab.cli.options import ClassifierDir, Device, Threads


def serve(
    model: ClassifierDir,
    host: Annotated[
        str,
        typer.Option("--host", help="Interface to listen on; 0.0.0.0 exposes the network."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port to listen on.")
    ] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="SCALINGLAB_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on every route but /health "
            "(default: env SCALINGLAB_TOKEN; unset: open).",
            show_default=False,
        ),
    ] = None,
    max_texts: Annotated[
        int, typer.Option("--max-texts", min=1, help="Most texts in one /predict request.")
    ] = 64,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1, help="Most characters in one text.")
    ] = 2000,
    max_batch: Annotated[
        int,
        typer.Option("--max-batch", min=1, help="Most texts in one micro-batched forward pass."),
    ] = 64,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-wait-ms",
            min=0.0,
            help="Longest wait for more requests to join a micro-batch (milliseconds).",
        ),
    ] = 5.0,
    micro_batching: Annotated[
        bool,
        typer.Option(
            "--micro-batching/--no-micro-batching",
            help="Merge concurrent requests into shared forward passes.",
        ),
    ] = True,
    threads: Threads = None,
    device: Device = "auto",
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            min=0.1,
            help="Seconds a client has to send a request's headers after connecting "
            "(or after its previous response); slower connections are closed.",
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            min=0.1,
            help="Seconds a client has to send a request's whole body after its headers; "
            "slower requests get 408.",
        ),
    ] = 30.0,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            "--shutdown-timeout",
            min=0.1,
            help="Seconds requests in progress get to finish on SIGTERM or Ctrl-C before "
            "they are cancelled and the server exits.",
        ),
    ] = 10.0,
    limit_concurrency: Annotated[
        int,
        typer.Option(
            "--limit-concurrency",
            min=1,
            help="Most requests in progress at once (/health not counted); more get 503 "
            "with Retry-After.",
        ),
    ] = 1024,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level", help="uvicorn log level: critical, error, warning, info, debug."
        ),
    ] = "info",
) -> None:
    """Serve POST /predict, GET /health and GET /metadata until interrupted (Ctrl-C)."""
    from scalinglab.serve.app import run_server

    run_server(
        model,
        host=host,
        port=port,
        token=token,
        max_texts_per_request=max_texts,
        max_chars_per_text=max_chars,
        max_batch_size=max_batch,
        max_wait_ms=max_wait_ms,
        micro_batching=micro_batching,
        num_threads=threads,
        device=device,
        body_timeout_s=body_timeout,
        limit_concurrency=limit_concurrency,
        header_timeout_s=header_timeout,
        shutdown_timeout_s=shutdown_timeout,
        log_level=log_level,
    )
