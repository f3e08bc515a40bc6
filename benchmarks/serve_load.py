"""Load benchmark of ``scalinglab serve``: micro-batching on versus off, side by side.

Starts a real ``scalinglab serve`` (uvicorn on 127.0.0.1) once with micro-batching and
once without, alternating ``--repeats`` times, and drives each with the same closed-loop
load: ``--clients`` concurrent httpx clients, each sending ``--requests`` requests of
``--texts`` tweets (the embedded test split) one after another. It prints, per mode,
throughput (requests/s), latency p50/p95/p99 (ms), errors and the mean texts per forward
pass, the server's CPU time per request, then the on/off ratios. With ``--in-process``
the clients call the :class:`~scalinglab.serve.batching.MicroBatcher` directly, without
HTTP, which isolates what batching saves from the cost of HTTP and JSON.

The model is ``--model DIR`` (a classifier from ``scalinglab finetune``) or, by default,
the embedded MiniLM-L6 (``--base minilm-L1`` ... for a truncated one) with a fresh
two-label head saved with ``save_classifier``: its predictions are meaningless but its
latency is that of a fine-tuned model of the same shape.

    python benchmarks/serve_load.py --clients 16 --requests 20 --threads 1
    python benchmarks/serve_load.py --clients 16 --requests 20 --threads 1 --in-process

Timings on a shared machine are noisy: compare the modes by their ratio in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np

TOKEN = "benchmark-token"


def main() -> None:
    args = _parser().parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model or _build_classifier(args.base, Path(scratch) / "classifier")
        texts = _tweets(args.clients * args.requests * args.texts)
        measure = _measure_in_process if args.in_process else _measure_http
        results = []
        for repeat in range(args.repeats):
            for batching in (True, False):
                result = measure(model_dir, texts, batching, args)
                result["repeat"] = repeat
                results.append(result)
                print(_row(result), flush=True)
    summary = _summary(results)
    print(_table(summary, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "summary": summary}, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="classifier directory to serve")
    parser.add_argument(
        "--base",
        default="minilm",
        help="without --model: encoder (minilm, minilm-L1..L6) given a fresh two-label head",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--texts", type=int, default=1, help="texts per request")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads of the server")
    parser.add_argument("--max-batch", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="batch wait (ms)")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of on and off")
    parser.add_argument("--json", help="write every run and the summary to this JSON file")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="drive the MicroBatcher directly, without HTTP, to isolate batching",
    )
    return parser


def _build_classifier(base: str, directory: Path) -> Path:
    from scalinglab.finetune.checkpoint import save_classifier
    from scalinglab.finetune.models import load_sequence_classifier, load_tokenizer, resolve_model

    source = resolve_model(base)
    model = load_sequence_classifier(source, ["negative", "positive"]).eval()
    metadata = {"method": "none (random head, for latency only)", "base_model": base}
    return save_classifier(model, load_tokenizer(source), directory, metadata)


def _tweets(count: int) -> list[str]:
    from scalinglab.finetune.tasks import load_task

    test = load_task("tweets-binary").test.texts
    return [test[i % len(test)] for i in range(count)]


def _measure_http(model_dir: Path, texts: list[str], batching: bool, args: Any) -> dict[str, Any]:
    process, log, url = _start(model_dir, batching, args)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    warm_up = texts[:8]
    try:
        httpx.post(f"{url}/predict", json={"texts": warm_up}, headers=headers, timeout=60)
        cpu_before = _cpu_seconds(process.pid)
        latencies, errors, seconds = asyncio.run(_load(_HttpTransport(url, headers), texts, args))
        cpu = _cpu_seconds(process.pid) - cpu_before
        metadata = httpx.get(f"{url}/metadata", headers=headers).json()
    finally:
        _stop(process, log)
    forwards = metadata["batches_run"] - 1, metadata["texts_run"] - len(warm_up)
    return _figures(batching, latencies, errors, seconds, cpu, forwards)


def _measure_in_process(
    model_dir: Path, texts: list[str], batching: bool, args: Any
) -> dict[str, Any]:
    import torch

    from scalinglab.finetune.predictor import Predictor
    from scalinglab.serve.batching import MicroBatcher

    torch.set_num_threads(args.threads)
    predictor = Predictor(model_dir)
    predictor.predict(texts[:8])
    batcher = MicroBatcher(
        predictor, max_batch_size=args.max_batch, max_wait_ms=args.max_wait_ms, enabled=batching
    )

    async def run() -> tuple[list[float], int, float]:
        batcher.start()
        try:
            return await _load(_InProcessTransport(batcher), texts, args)
        finally:
            await batcher.stop()

    cpu_before = time.process_time()
    latencies, errors, seconds = asyncio.run(run())
    cpu = time.process_time() - cpu_before
    forwards = batcher.batches_run, batcher.texts_run
    return _figures(batching, latencies, errors, seconds, cpu, forwards)


def _figures(
    batching: bool,
    latencies: list[float],
    errors: int,
    seconds: float,
    cpu: float,
    forwards: tuple[int, int],
) -> dict[str, Any]:
    requests = len(latencies) + errors
    batches, texts_run = forwards
    return {
        "micro_batching": batching,
        "requests": requests,
        "errors": errors,
        "seconds": seconds,
        "requests_per_s": requests / seconds,
        "p50_ms": 1000 * float(np.percentile(latencies, 50)),
        "p95_ms": 1000 * float(np.percentile(latencies, 95)),
        "p99_ms": 1000 * float(np.percentile(latencies, 99)),
        "server_cpu_ms_per_request": 1000 * cpu / requests,
        "texts_per_forward": texts_run / max(batches, 1),
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (Linux ``/proc``).

    CPU time per request is steadier than wall time on a shared machine: other people's
    load stretches the wall clock far more than the work the server does.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _HttpTransport:
    """Clients post to ``/predict``, each over its own single connection."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers

    def session(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=1)
        return httpx.AsyncClient(base_url=self.url, headers=self.headers, limits=limits)

    async def send(self, session: httpx.AsyncClient, texts: list[str]) -> bool:
        try:
            response = await session.post("/predict", json={"texts": texts}, timeout=120)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


class _InProcessTransport:
    """Clients call the batcher directly: batching without HTTP and JSON costs."""

    def __init__(self, batcher: Any) -> None:
        self.batcher = batcher

    def session(self) -> contextlib.nullcontext:
        return contextlib.nullcontext()

    async def send(self, _: Any, texts: list[str]) -> bool:
        return len(await self.batcher.predict(texts)) == len(texts)


async def _load(transport: Any, texts: list[str], args: Any) -> tuple[list[float], int, float]:
    """``args.clients`` clients, each sending ``args.requests`` requests one after another."""
    latencies: list[float] = []
    errors = 0

    async def client(index: int) -> None:
        nonlocal errors
        async with transport.session() as session:
            for number in range(args.requests):
                start = (index * args.requests + number) * args.texts
                began = time.perf_counter()
                if await transport.send(session, texts[start : start + args.texts]):
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(args.clients)))
    return latencies, errors, time.perf_counter() - began


def _start(model_dir: Path, batching: bool, args: Any) -> tuple[subprocess.Popen, IO[str], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "scalinglab", "serve", "--model", str(model_dir),
        "--port", str(port), "--threads", str(args.threads), "--log-level", "warning",
        "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms),
        "--max-texts", str(max(args.texts, 8)),
        "--micro-batching" if batching else "--no-micro-batching",
    ]  # fmt: skip
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by _stop)
    env = {**os.environ, "SCALINGLAB_TOKEN": TOKEN}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, log, url
        except httpx.TransportError:
            time.sleep(0.2)
    _stop(process, log)
    raise RuntimeError("the server did not start; run the serve command by hand to see why")


def _stop(process: subprocess.Popen, log: IO[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over repeats of each mode's figures, and the on/off ratios."""
    keys = (
        "requests_per_s",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "server_cpu_ms_per_request",
        "texts_per_forward",
    )
    modes = {}
    for batching in (True, False):
        runs = [run for run in results if run["micro_batching"] is batching]
        modes["on" if batching else "off"] = {
            **{key: float(np.median([run[key] for run in runs])) for key in keys},
            "errors": sum(run["errors"] for run in runs),
            "requests": sum(run["requests"] for run in runs),
        }
    on, off = modes["on"], modes["off"]
    ratios = {
        "throughput_on_over_off": on["requests_per_s"] / off["requests_per_s"],
        "p95_on_over_off": on["p95_ms"] / off["p95_ms"],
        "cpu_per_request_on_over_off": on["server_cpu_ms_per_request"]
        / off["server_cpu_ms_per_request"],
    }
    return {"modes": modes, "ratios": ratios}


def _row(run: dict[str, Any]) -> str:
    mode = "on " if run["micro_batching"] else "off"
    return (
        f"repeat {run['repeat']} batching {mode}: {run['requests_per_s']:7.1f} req/s, "
        f"p50 {run['p50_ms']:7.1f} ms, p95 {run['p95_ms']:7.1f} ms, "
        f"server CPU {run['server_cpu_ms_per_request']:5.1f} ms/request, "
        f"{run['texts_per_forward']:5.1f} texts/forward, {run['errors']} errors"
    )


def _table(summary: dict[str, Any], args: Any) -> str:
    lines = [
        "",
        f"{args.clients} clients x {args.requests} requests x {args.texts} text(s), "
        f"server threads {args.threads}, max batch {args.max_batch}, "
        f"max wait {args.max_wait_ms} ms; median of {args.repeats} repeats",
        "",
        "| micro-batching | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms/request "
        "| texts/forward | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, figures in summary["modes"].items():
        lines.append(
            f"| {mode} | {figures['requests_per_s']:.1f} | {figures['p50_ms']:.1f} | "
            f"{figures['p95_ms']:.1f} | {figures['p99_ms']:.1f} | "
            f"{figures['server_cpu_ms_per_request']:.1f} | "
            f"{figures['texts_per_forward']:.1f} | {figures['errors']} |"
        )
    ratios = summary["ratios"]
    lines.append("")
    lines.append(
        f"throughput on/off: {ratios['throughput_on_over_off']:.2f}x; "
        f"p95 on/off: {ratios['p95_on_over_off']:.2f}x; "
        f"server CPU per request on/off: {ratios['cpu_per_request_on_over_off']:.2f}x"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
