"""Training throughput of scalinglab's GPT modules against Hugging Face's GPT2LMHeadModel.

All models get the same shape, batch, thread count and precision; each training step is
forward, loss, backward and an AdamW step. HF runs at its best: with both attention
implementations its users pick from (``eager``, the explicit matmul-softmax-matmul, and
``sdpa``, PyTorch's fused kernels; each can be the faster one depending on the CPU and
precision), and compiled too with ``--compile``. The models are timed in alternation
(ours, HF eager, HF sdpa, ours, ...) so that load from other jobs on a shared machine
hits all alike; ``ratio`` is our median tokens/s over the *faster* HF variant's, per
precision. fp32 is the like-for-like figure (ours uses explicit attention only in bf16
on CPU); every row records the CPU's instruction set (AVX2, AVX-512, AVX-512 BF16, AMX),
on which the bf16 figures depend. ``--gpu`` instead measures the model FLOP utilisation
(MFU) of a ~125M GPT at context 1024 in bf16 on CUDA.

    python benchmarks/train_throughput.py                  # CPU, fp32 and bf16 autocast
    python benchmarks/train_throughput.py --compile        # also with torch.compile
    python benchmarks/train_throughput.py --gpu --compile  # MFU on a CUDA device
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from scalinglab.models import build_model
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.hf_export import hf_config
from scalinglab.models.shape import ShapeSpec

CPU_SHAPES = {
    "small": {"n_layer": 2, "d_model": 96},
    "mid": {"n_layer": 4, "d_model": 256},
    "large": {"n_layer": 6, "d_model": 384},
}
#: Dense bf16 tensor-core peak of one H100/H200 SXM (NVIDIA data sheet), FLOP/s.
H200_BF16_PEAK = 989e12
#: HF's attention implementations timed; ``ratio`` is against the faster.
HF_ATTENTION = ("eager", "sdpa")
#: /proc/cpuinfo flags that decide which CPU kernels (and bf16 paths) are fast.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_isa() -> str:
    """The instruction-set flags of ``ISA_FLAGS`` this CPU has, space separated
    ("unknown" where /proc/cpuinfo cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    return " ".join(flag for flag in ISA_FLAGS if flag in flags) or "none of " + "/".join(ISA_FLAGS)


def hf_model(shape: ShapeSpec, attention: str) -> GPT2LMHeadModel:
    """HF's GPT-2 of the same shape as ours, with ``attention`` (eager or sdpa)."""
    config = {k: v for k, v in hf_config(shape).items() if k not in ("model_type", "architectures")}
    return GPT2LMHeadModel(GPT2Config(**config, attn_implementation=attention))


def make_step(
    model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, hf: bool, dtype: str
) -> Callable[[], None]:
    """One training step: forward, loss, backward, AdamW. HF shifts labels itself, so it
    gets ``ids`` as labels; ours gets the aligned next tokens."""
    device = ids.device.type
    fused = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    autocast = (
        torch.autocast(device, dtype=torch.bfloat16)
        if dtype == "bf16"
        else contextlib.nullcontext()
    )
    target = ids if hf else labels

    def step() -> None:
        with autocast:
            loss = model(ids, labels=target).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def timed(step: Callable[[], None], sync: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and process CPU seconds of one step."""
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    sync()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(
    shape: ShapeSpec,
    batch: int,
    dtype: str,
    compile_models: bool,
    steps: int,
    device: str = "cpu",
) -> dict:
    """Median tokens/s of ours and of HF with each attention implementation, timed one
    step at a time in alternation, and ``ratio``: ours over the faster HF variant (named
    in ``hf_variant``); also the same from median CPU seconds per step, which other jobs
    on a shared machine disturb less than wall time."""
    torch.manual_seed(0)
    data = torch.randint(0, shape.vocab_size, (batch, shape.n_ctx + 1), device=device)
    ids, labels = data[:, :-1].contiguous(), data[:, 1:].contiguous()
    models = {"ours": build_model(shape).to(device)}
    for attention in HF_ATTENTION:
        torch.manual_seed(0)
        models[f"hf_{attention}"] = hf_model(shape, attention).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    steps_of = {}
    for name, model in models.items():
        model.train()
        runnable = torch.compile(model) if compile_models else model
        steps_of[name] = make_step(runnable, ids, labels, name != "ours", dtype)
        for _ in range(2):  # warm-up (and compilation)
            timed(steps_of[name], sync)
    wall: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(steps):
        for name in models:
            seconds, cpu_seconds = timed(steps_of[name], sync)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    tokens = batch * shape.n_ctx
    rate = {name: tokens / statistics.median(s) for name, s in wall.items()}
    cpu_rate = {name: tokens / statistics.median(s) for name, s in cpu.items()}
    best = max(HF_ATTENTION, key=lambda attention: rate[f"hf_{attention}"])
    best_cpu = max(HF_ATTENTION, key=lambda attention: cpu_rate[f"hf_{attention}"])
    row = {
        "shape": f"L{shape.n_layer} d{shape.d_model} V{shape.vocab_size} T{shape.n_ctx}",
        "n_params_nonembed": count_params(shape).nonembed,
        "dtype": dtype,
        "like_for_like": dtype == "fp32",
        "compile": compile_models,
        "isa": cpu_isa() if device == "cpu" else torch.cuda.get_device_name(),
        "hf_variant": best,
        "tokens_per_s_ours": rate["ours"],
        "tokens_per_s_hf": rate[f"hf_{best}"],
        "ratio": rate["ours"] / rate[f"hf_{best}"],
        "hf_variant_cpu_time": best_cpu,
        "cpu_tokens_per_s_ours": cpu_rate["ours"],
        "cpu_tokens_per_s_hf": cpu_rate[f"hf_{best_cpu}"],
        "ratio_cpu_time": cpu_rate["ours"] / cpu_rate[f"hf_{best_cpu}"],
        "flop_per_s_ours": rate["ours"] * flops_per_token(shape).exact,
    }
    for attention in HF_ATTENTION:
        row[f"tokens_per_s_hf_{attention}"] = rate[f"hf_{attention}"]
        row[f"cpu_tokens_per_s_hf_{attention}"] = cpu_rate[f"hf_{attention}"]
    return row


def cpu_main(args: argparse.Namespace) -> list[dict]:
    rows = []
    for name in args.shapes:
        shape = ShapeSpec.create("gpt", **CPU_SHAPES[name], vocab_size=args.vocab, n_ctx=args.ctx)
        for dtype in args.dtypes:
            modes = ([] if args.no_eager else [False]) + ([True] if args.compile else [])
            for compile_models in modes:
                row = compare(shape, args.batch, dtype, compile_models, args.steps)
                row["name"] = name
                rows.append(row)
                print(
                    f"{name:5s} {row['shape']:22s} {dtype:4s} compile={compile_models!s:5s} "
                    f"wall tok/s: ours {row['tokens_per_s_ours']:6.0f} HF eager "
                    f"{row['tokens_per_s_hf_eager']:6.0f} sdpa {row['tokens_per_s_hf_sdpa']:6.0f} "
                    f"-> {row['ratio']:.2f}x vs HF {row['hf_variant']} | CPU time: "
                    f"{row['ratio_cpu_time']:.2f}x vs HF {row['hf_variant_cpu_time']}"
                    + (" (like for like)" if row["like_for_like"] else ""),
                    flush=True,
                )
    return rows


def gpu_main(args: argparse.Namespace) -> list[dict]:
    torch.backends.cuda.matmul.allow_tf32 = True
    shape = ShapeSpec.create("gpt", n_layer=12, d_model=768, vocab_size=50304, n_ctx=1024)
    row = compare(shape, args.batch, "bf16", args.compile, args.steps, "cuda")
    flops = flops_per_token(shape)
    for who in ("ours", "hf"):
        rate = row[f"tokens_per_s_{who}"]
        row[f"mfu_{who}"] = rate * flops.exact / H200_BF16_PEAK
        row[f"mfu_6n_{who}"] = rate * flops.six_n / H200_BF16_PEAK
    row["device"] = torch.cuda.get_device_name()
    print(
        f"{row['device']}: {row['shape']} bf16 compile={args.compile} batch {args.batch}: "
        f"ours {row['tokens_per_s_ours']:.0f} tok/s, MFU {row['mfu_ours']:.1%} "
        f"(6N: {row['mfu_6n_ours']:.1%}); HF ({row['hf_variant']}, the faster) "
        f"{row['tokens_per_s_hf']:.0f} tok/s, "
        f"MFU {row['mfu_hf']:.1%}; ratio {row['ratio']:.2f}x",
        flush=True,
    )
    return [row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", default=list(CPU_SHAPES), choices=list(CPU_SHAPES))
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--batch", type=int, default=None, help="sequences per step")
    parser.add_argument("--ctx", type=int, default=256, help="context length (tokens)")
    parser.add_argument("--vocab", type=int, default=8192, help="vocabulary size")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="intra-op threads (1: CPU time then measures the work even on a busy machine)",
    )
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--no-eager", action="store_true", help="with --compile: only compiled")
    parser.add_argument("--gpu", action="store_true", help="MFU of a 125M GPT on CUDA")
    parser.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = parser.parse_args()
    if not args.gpu:
        torch.set_num_threads(args.threads)
    if args.batch is None:
        args.batch = 16 if args.gpu else 4
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"ISA: {cpu_isa()}, {torch.get_num_threads()} threads, batch {args.batch}",
        flush=True,
    )
    rows = gpu_main(args) if args.gpu else cpu_main(args)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
