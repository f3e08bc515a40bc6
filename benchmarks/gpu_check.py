"""The measuring parts of ``benchmarks/gpu_check.sh`` (which runs them; see docs/gpu.md).

``mfu``: model FLOP utilisation of one training configuration: scalinglab's model of a
family and shape, bf16 autocast, fused AdamW on CUDA (``build_optimizer``), TF32,
eager or ``torch.compile``; tokens/s over timed steps after warm-up, times the exact
training FLOPs per token (:func:`~scalinglab.models.counting.flops_per_token`), over the
device's peak (:func:`~scalinglab.train.peak.peak_flops`: the data-sheet dense bf16 peak
of a known GPU, a measured matmul peak on CPU). ``serve-probe``: requests to a running
``scalinglab serve`` (latency, the device it reports). ``collect``: every step's JSON
into one ``gpu_check.json``.

    python benchmarks/gpu_check.py mfu --family gpt --size 125m --device cuda --compile \\
        --json out/mfu_gpt_compiled.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

#: Shapes measured: the 125M models of the issue (GPT-2 small's shape; a llama of the
#: same depth and width) at context 1024, and a tiny one for the CPU smoke run.
SIZES: dict[str, dict[str, int]] = {
    "125m": {"n_layer": 12, "d_model": 768, "vocab_size": 50304, "n_ctx": 1024},
    "tiny": {"n_layer": 2, "d_model": 64, "vocab_size": 512, "n_ctx": 64},
}


def measure_mfu(
    family: str, size: str, device_name: str, compile_model: bool, batch: int, steps: int
) -> dict[str, Any]:
    """Tokens/s and MFU of ``steps`` timed training steps (after 3 warm-up steps, which
    include compilation) of ``family`` at ``size`` on ``device_name`` in bf16."""
    import torch

    from scalinglab.models import build_model
    from scalinglab.models.counting import count_params, flops_per_token
    from scalinglab.models.shape import ShapeSpec
    from scalinglab.train.optim import build_optimizer
    from scalinglab.train.peak import peak_flops
    from scalinglab.train.precision import bf16_autocast, enable_tf32

    device = torch.device(device_name)
    tf32 = enable_tf32(device)
    shape = ShapeSpec.create(family, **SIZES[size])  # type: ignore[arg-type]
    torch.manual_seed(0)
    model = build_model(shape).to(device)
    optimizer = build_optimizer(model, lr=3e-4, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
    runner = torch.compile(model) if compile_model else model
    data = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx + 1), device=device)
    ids, labels = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def step() -> float:
        with bf16_autocast(device.type, True):
            loss = runner(ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    began = time.perf_counter()
    for _ in range(3):
        step()
    sync()
    warmup_seconds = time.perf_counter() - began
    seconds = []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        loss = step()
        sync()
        seconds.append(time.perf_counter() - start)
    tokens_per_second = batch * shape.n_ctx / statistics.median(seconds)
    flops = flops_per_token(shape)
    peak, peak_source = peak_flops(device, torch.bfloat16)
    params = count_params(shape)
    return {
        "family": family,
        "size": size,
        "shape": shape.to_dict(),
        "n_params": params.total,
        "n_params_nonembed": params.nonembed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "dtype": "bf16 autocast",
        "tf32": tf32,
        "fused_adamw": bool(optimizer.param_groups[0]["fused"]),
        "compile": compile_model,
        "batch": batch,
        "steps_timed": steps,
        "warmup_seconds": warmup_seconds,
        "median_step_seconds": statistics.median(seconds),
        "tokens_per_second": tokens_per_second,
        "flops_per_token": flops.exact,
        "flops_per_second": tokens_per_second * flops.exact,
        "peak_flops": peak,
        "peak_flops_source": peak_source,
        "mfu": tokens_per_second * flops.exact / peak,
        "mfu_6n": tokens_per_second * flops.six_n / peak,
        "final_loss": loss,
        "max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30
        if device.type == "cuda"
        else None,
    }


def probe_server(url: str, requests: int, token: str | None) -> dict[str, Any]:
    """``requests`` POSTs of two texts each to ``url``/predict: latency percentiles (ms),
    the labels of the first answer, and the device ``/metadata`` reports."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def call(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    texts = ["what a lovely flight, thank you", "lost my bag again, two hours on hold"]
    latencies, first = [], None
    for _ in range(requests):
        start = time.perf_counter()
        answer = call("/predict", {"texts": texts})
        latencies.append((time.perf_counter() - start) * 1000)
        first = first or answer
    latencies.sort()
    return {
        "device": call("/metadata").get("device"),
        "requests": requests,
        "texts_per_request": len(texts),
        "latency_ms_p50": latencies[len(latencies) // 2],
        "latency_ms_max": latencies[-1],
        "first_answer": first,
    }


def collect(out: Path, mode: str) -> dict[str, Any]:
    """Every step's status and result under ``out`` as one record (``gpu_check.json``)."""
    steps = {}
    for status_file in sorted((out / "steps").glob("*.status.json")):
        name = status_file.name.removesuffix(".status.json")
        record = json.loads(status_file.read_text())
        result = out / f"{name}.json"
        if result.exists():
            record["result"] = json.loads(result.read_text())
        steps[name] = record
    report = {
        "mode": mode,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "steps": steps,
        "all_ok": all(s["status"] in ("ok", "skipped") for s in steps.values()),
    }
    env = out / "environment.json"
    if env.exists():
        report["environment"] = json.loads(env.read_text())
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def environment() -> dict[str, Any]:
    """torch, CUDA and the GPU this check ran on."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_available": cuda,
        "cuda_version": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_count": torch.cuda.device_count(),
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "cpu": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    mfu = commands.add_parser("mfu", help="MFU of one training configuration")
    mfu.add_argument("--family", default="gpt", help="model family (gpt, llama)")
    mfu.add_argument("--size", default="125m", choices=list(SIZES))
    mfu.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    mfu.add_argument("--compile", action="store_true", help="torch.compile the model")
    mfu.add_argument("--batch", type=int, default=16, help="sequences per step")
    mfu.add_argument("--steps", type=int, default=20, help="timed steps")
    mfu.add_argument("--json", required=True, help="write the result here")
    probe = commands.add_parser("serve-probe", help="requests to a running server")
    probe.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000")
    probe.add_argument("--requests", type=int, default=20)
    probe.add_argument("--token", default=None)
    probe.add_argument("--json", required=True)
    gather = commands.add_parser("collect", help="merge the steps into gpu_check.json")
    gather.add_argument("--out", required=True)
    gather.add_argument("--mode", required=True, help="gpu or cpu-smoke")
    env = commands.add_parser("environment", help="torch, CUDA and GPU as JSON")
    env.add_argument("--json", required=True)
    args = parser.parse_args()
    if args.command == "mfu":
        result = measure_mfu(
            args.family, args.size, args.device, args.compile, args.batch, args.steps
        )
        print(
            f"{args.family} {args.size} compile={args.compile}: "
            f"{result['tokens_per_second']:.0f} tok/s, MFU {result['mfu']:.1%} "
            f"(peak {result['peak_flops']:.3g} FLOP/s, {result['peak_flops_source']})",
            flush=True,
        )
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    elif args.command == "serve-probe":
        result = probe_server(args.url.rstrip("/"), args.requests, args.token)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    elif args.command == "environment":
        Path(args.json).write_text(json.dumps(environment(), indent=2) + "\n")
    else:
        report = collect(Path(args.out), args.mode)
        for name, step in report["steps"].items():
            print(
                f"{name:24s} {step['status']:8s} {step['seconds']:7.1f} s  {step.get('note', '')}"
            )
        print(f"all ok: {report['all_ok']}; {Path(args.out) / 'gpu_check.json'}")
        raise SystemExit(0 if report["all_ok"] else 1)


if __name__ == "__main__":
    main()
