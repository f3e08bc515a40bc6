"""The fine-tuning loop: AdamW, linear warmup and decay, early stopping on validation macro-F1.

Visible top to bottom in :func:`train_classifier`. Options live in :class:`FinetuneConfig`:

- learning rate: the method's default (:func:`scalinglab.finetune.methods.default_lr`)
  unless given;
- class weights: the cross-entropy weights classes by ``n / (k * n_c)``; by default on
  when the largest class has more than 1.5 times the examples of the smallest;
- early stopping: validation macro-F1 is computed ``evals_per_epoch`` times per epoch;
  after ``patience`` evaluations without improvement training stops, and the best
  weights are restored;
- device: ``auto`` (CUDA when torch sees a GPU, else the CPU), ``cpu``, ``cuda`` or
  ``cuda:N``; asking for CUDA where there is none is a one-line error;
- bf16: autocast to bfloat16 on CPUs with AVX512-BF16 or AMX and on GPUs that support it
  (measured on this machine: MiniLM-L6 training steps about 1.5x and inference about
  1.6x faster than float32; master weights and optimizer state stay float32);
- an optional ``extra_loss(model) -> tensor`` term (used by EWC in continual learning).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from scalinglab.finetune.device import resolve_device
from scalinglab.finetune.evaluation import collate, encode_texts, evaluate, logits_of
from scalinglab.finetune.methods import default_lr
from scalinglab.finetune.tasks import Split
from scalinglab.train.precision import bf16_autocast, default_bf16

IMBALANCE_RATIO = 1.5


@dataclass(frozen=True)
class FinetuneConfig:
    """Options of the loop; times in seconds, ``max_length`` in tokens."""

    epochs: int = 3
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    evals_per_epoch: int = 1
    class_weights: bool | None = None
    seed: int = 0
    max_length: int = 128
    bf16: bool | None = None
    threads: int | None = None
    eval_batch_size: int = 64
    progress: bool = True
    device: str = "auto"


@dataclass
class TrainResult:
    """What training did: validation history, best score, steps and wall time."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val_macro_f1: float = float("nan")
    best_step: int = 0
    steps: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    lr: float = 0.0
    bf16: bool = False
    class_weights: list[float] | None = None


def resolve_bf16(requested: bool | None, device: torch.device | None = None) -> bool:
    """The requested precision, or the default of :func:`default_bf16` for ``device``."""
    if requested is not None:
        return requested
    return default_bf16(device or torch.device("cpu"))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights_for(
    labels: np.ndarray, n_classes: int, requested: bool | None
) -> list[float] | None:
    """Inverse-frequency weights ``n / (k * n_c)``, or ``None`` when not wanted/needed."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    imbalanced = counts.min() == 0 or counts.max() / counts.min() > IMBALANCE_RATIO
    if requested is False or (requested is None and not imbalanced):
        return None
    counts = np.maximum(counts, 1.0)
    return (counts.sum() / (n_classes * counts)).tolist()


def train_classifier(
    model: Any,
    tokenizer: Any,
    train: Split,
    validation: Split,
    labels: list[str],
    method: str,
    config: FinetuneConfig,
    extra_loss: Callable[[Any], torch.Tensor] | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on ``train``; keep the weights best on ``validation``."""
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    bf16 = resolve_bf16(config.bf16, device)
    lr = config.lr if config.lr is not None else default_lr(method)
    weights = class_weights_for(train.labels, len(labels), config.class_weights)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(weights, dtype=torch.float32, device=device) if weights else None
    )
    encoded = encode_texts(tokenizer, train.texts, config.max_length)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if p.ndim > 1], "weight_decay": config.weight_decay},
            {"params": [p for n, p in named if p.ndim <= 1], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = max(1, config.epochs * steps_per_epoch)
    warmup = int(config.warmup_ratio * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total_steps))
    eval_every = max(1, steps_per_epoch // max(1, config.evals_per_epoch))
    generator = np.random.default_rng(config.seed)
    result = TrainResult(lr=lr, bf16=bf16, class_weights=weights)
    best_state: dict[str, torch.Tensor] | None = None
    waited, step, running = 0, 0, []
    start = time.perf_counter()
    with _Progress(config.progress, total_steps) as advance:
        for _ in range(config.epochs):
            model.train()
            order = generator.permutation(len(train))
            for first in range(0, len(order), config.batch_size):
                ids = order[first : first + config.batch_size]
                batch = collate(tokenizer, [encoded[i] for i in ids], device)
                target = torch.as_tensor(train.labels[ids], device=device)
                with bf16_autocast(device.type, bf16):
                    logits = logits_of(model, batch)
                loss = loss_fn(logits.float(), target)
                if extra_loss is not None:
                    loss = loss + extra_loss(model)
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                running.append(loss.item())
                advance(running[-1])
                end_of_epoch = first + config.batch_size >= len(order)
                if step % eval_every and not end_of_epoch:
                    continue
                score = evaluate(
                    model,
                    tokenizer,
                    validation,
                    labels,
                    config.max_length,
                    config.eval_batch_size,
                    bf16,
                ).metrics
                result.history.append(
                    {
                        "epoch": step / steps_per_epoch,
                        "step": step,
                        "train_loss": float(np.mean(running)),
                        "val_macro_f1": score["macro_f1"],
                        "val_accuracy": score["accuracy"],
                        "seconds": time.perf_counter() - start,
                    }
                )
                running = []
                model.train()
                if not score["macro_f1"] <= result.best_val_macro_f1:  # also true on NaN best
                    result.best_val_macro_f1, result.best_step = score["macro_f1"], step
                    best_state = _trainable_state(model)
                    waited = 0
                else:
                    waited += 1
                if waited >= config.patience:
                    result.stopped_early = True
                    break
            if result.stopped_early:
                break
    if best_state is not None:
        model.load_state_dict(best_state, strict=False)
    model.eval()
    result.steps = step
    result.train_seconds = time.perf_counter() - start
    return result


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in trainable}


class _Progress:
    """A rich progress bar over optimizer steps showing the last loss (or nothing)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total

    def __enter__(self) -> Callable[[float], None]:
        if not self.enabled:
            return lambda _loss: None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("fine-tune"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} steps  loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("train", total=self.total, loss=float("nan"))
        return lambda loss: self.bar.update(task, advance=1, loss=loss)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
