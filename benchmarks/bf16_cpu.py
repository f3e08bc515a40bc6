"""Does bf16 autocast pay on this CPU? Training-step throughput, fp32 vs bf16, side by side.

Three modes, each printing the CPU's instruction-set flags (AVX2, AVX-512, AVX-512 BF16,
AMX) with its figures, since whether bf16 pays depends on them:

- default: the pretraining step of ``scalinglab.train`` as its loop runs it, on random
  tokens for a few gpt shapes: forward under ``bf16_autocast``, the model's own loss
  (``scalinglab.models.loss.cross_entropy`` summed over target tokens, divided by their
  count), backward, gradient clipping at 1.0, and a step of the AdamW of
  ``scalinglab.train.optim.build_optimizer``, built once per precision. fp32 and bf16
  repeats alternate so that load from other processes hits both alike; best of
  ``--repeats``.
- ``--minilm``: the full fine-tuning step of MiniLM-L6 (``scalinglab.finetune``'s: the
  classifier's logits under autocast, cross-entropy in fp32, AdamW built once) at batch
  ``--batch`` x ``--ctx`` tokens, and inference at the same batch, fp32 vs bf16.
- ``--train-tokens N``: two real runs of ``scalinglab.train.run_training`` of the
  4 x 128 gpt at context 128 on the embedded corpus, fp32 and bf16, everything else at
  its default: final validation loss and training tokens/s of each.

The ``bf16`` default of ``scalinglab train`` and ``scalinglab finetune`` on CPU follows
these measurements.

    python benchmarks/bf16_cpu.py [--threads 1] [--repeats 5]
    python benchmarks/bf16_cpu.py --minilm --batch 32 --ctx 48 --repeats 3
    python benchmarks/bf16_cpu.py --train-tokens 300000 --out runs/bench-bf16
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from scalinglab.models.build import build_model
from scalinglab.models.loss import cross_entropy
from scalinglab.models.shape import ShapeSpec
from scalinglab.train.optim import build_optimizer
from scalinglab.train.precision import bf16_autocast

SHAPES = [(2, 128), (4, 256), (6, 384)]
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_isa() -> str:
    """The flags of ``ISA_FLAGS`` this CPU has (from /proc/cpuinfo), space separated."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith("flags")), [])  # fmt: skip
    return " ".join(flag for flag in ISA_FLAGS if flag in flags) or "none of " + "/".join(ISA_FLAGS)


def gpt_step(model: torch.nn.Module, ids: torch.Tensor, bf16: bool) -> Callable[[], None]:
    """The pretraining step of ``scalinglab.train`` on one batch (see the docstring)."""
    optimizer = build_optimizer(model, lr=1e-4, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8)
    inputs, labels = ids[:, :-1], ids[:, 1:]

    def step() -> None:
        with bf16_autocast("cpu", bf16):
            logits = model(input_ids=inputs).logits
        loss = cross_entropy(logits, labels, reduction="sum") / labels.numel()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def best_seconds(steps: dict[bool, Callable[[], None]], repeats: int) -> dict[bool, float]:
    """Best wall seconds of each precision's step, fp32 and bf16 alternating."""
    for step in steps.values():
        step()  # warm-up
    best = {bf16: float("inf") for bf16 in steps}
    for _ in range(repeats):
        for bf16, step in steps.items():
            start = time.perf_counter()
            step()
            best[bf16] = min(best[bf16], time.perf_counter() - start)
    return best


def gpt_main(args: argparse.Namespace) -> None:
    print(f"{'shape':>10} {'fp32 tok/s':>11} {'bf16 tok/s':>11} {'bf16/fp32':>9}")
    for n_layer, d_model in SHAPES:
        shape = ShapeSpec.create("gpt", n_layer=n_layer, d_model=d_model, vocab_size=4096,
                                 n_ctx=args.ctx)  # fmt: skip
        ids = torch.randint(0, 4096, (args.batch, args.ctx + 1))
        steps = {}
        for bf16 in (False, True):
            torch.manual_seed(0)
            steps[bf16] = gpt_step(build_model(shape), ids, bf16)
        best = best_seconds(steps, args.repeats)
        tokens = args.batch * args.ctx
        fp32, bf16 = tokens / best[False], tokens / best[True]
        print(f"{n_layer}x{d_model:>5} {fp32:>11,.0f} {bf16:>11,.0f} {bf16 / fp32:>9.2f}")


def minilm_main(args: argparse.Namespace) -> None:
    from scalinglab.finetune.models import load_sequence_classifier, resolve_model

    source = resolve_model("minilm")
    generator = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(1000, 30000, (args.batch, args.ctx), generator=generator),
        "attention_mask": torch.ones(args.batch, args.ctx, dtype=torch.long),
    }
    target = torch.randint(0, 2, (args.batch,), generator=generator)
    train, infer = {}, {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = load_sequence_classifier(source, ["negative", "positive"])
        train[bf16] = _minilm_step(model, batch, target, bf16)
        infer[bf16] = _minilm_inference(model, batch, bf16)
    step = best_seconds(train, args.repeats)
    forward = best_seconds(infer, args.repeats)
    print(f"MiniLM-L6, batch {args.batch} x {args.ctx} tokens, best of {args.repeats}:")
    print(f"  full fine-tuning step: fp32 {step[False]:.2f} s, bf16 {step[True]:.2f} s "
          f"({step[False] / step[True]:.2f}x)")  # fmt: skip
    print(f"  inference: fp32 {forward[False]:.2f} s, bf16 {forward[True]:.2f} s "
          f"({forward[False] / forward[True]:.2f}x)")  # fmt: skip


def _minilm_step(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], target: torch.Tensor, bf16: bool
) -> Callable[[], None]:
    from scalinglab.finetune.evaluation import logits_of

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        model.train()
        with bf16_autocast("cpu", bf16):
            logits = logits_of(model, batch)
        loss_fn(logits.float(), target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _minilm_inference(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], bf16: bool
) -> Callable[[], None]:
    from scalinglab.finetune.evaluation import logits_of

    @torch.no_grad()
    def forward() -> None:
        model.eval()
        with bf16_autocast("cpu", bf16):
            logits_of(model, batch)

    return forward


def train_main(args: argparse.Namespace) -> None:
    from scalinglab.train import TrainConfig, run_training

    out = Path(args.out or tempfile.mkdtemp(prefix="bf16-cpu-"))
    print(f"4 x 128 gpt, context 128, {args.train_tokens:,} tokens of the embedded corpus:")
    for bf16 in (False, True):
        config = TrainConfig(
            out_dir=str(out / ("bf16" if bf16 else "fp32")), n_layer=4, d_model=128, n_ctx=128,
            tokens=args.train_tokens, bf16=bf16, threads=args.threads, export_hf=False,
        )  # fmt: skip
        summary = run_training(config, progress=False)
        print(f"  {'bf16' if bf16 else 'fp32'}: final validation loss "
              f"{summary.final_val_loss:.5f}, {summary.tokens_per_second:,.0f} training tok/s "
              f"({summary.out_dir})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="sequences per step")
    parser.add_argument("--ctx", type=int, default=128, help="tokens per sequence")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--minilm", action="store_true", help="MiniLM-L6 fine-tuning step")
    mode.add_argument("--train-tokens", type=int, default=None, help="two real 4x128 runs")
    parser.add_argument("--out", default=None, help="run folders of --train-tokens")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads={args.threads} batch={args.batch} ctx={args.ctx} torch={torch.__version__} "
          f"ISA: {cpu_isa()}")  # fmt: skip
    if args.minilm:
        minilm_main(args)
    elif args.train_tokens:
        train_main(args)
    else:
        gpt_main(args)


if __name__ == "__main__":
    main()
