"""One training run, top to bottom: :func:`run_training`.

The loop in order: resolve defaults; prepare data (cached tokenizer and shards); seed
and build the model; restore the newest checkpoint of ``out_dir`` if there is one; then
per optimizer step: set the learning rate, run the micro-batches of this rank (loss
summed over target tokens and divided by the global count, so gradient accumulation and
data parallelism give the gradient of the single-process batch), clip, step, check for
divergence; evaluate and checkpoint at intervals; at the end write ``summary.json`` and
export the model as a Hugging Face folder (``DIR/hf``).

Everything a step does is a function of (seed, step) and the restored state, so a run
resumed from a checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from scalinglab.data.pipeline import PreparedData, prepare_data
from scalinglab.data.tokenizer import cache_root
from scalinglab.errors import ScalingLabError, disk_full_names, is_disk_full
from scalinglab.io import atomic_write_json, atomic_write_text
from scalinglab.models.build import build_model
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.loss import cross_entropy
from scalinglab.models.mup import apply_mup, folded_copy, lr_multipliers
from scalinglab.train.checkpoint import latest_checkpoint, restore_checkpoint, save_checkpoint
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import resolve, total_steps
from scalinglab.train.distributed import DistContext, init_distributed
from scalinglab.train.divergence import DivergenceMonitor
from scalinglab.train.optim import build_optimizer
from scalinglab.train.peak import peak_flops
from scalinglab.train.precision import bf16_autocast, default_bf16, enable_tf32
from scalinglab.train.prefetch import BatchPrefetcher
from scalinglab.train.progress import TrainProgress
from scalinglab.train.runlock import run_folder_lock
from scalinglab.train.schedule import constant_lr, cooldown_steps, cosine_lr, wsd_lr
from scalinglab.train.summary import RunSummary

# Fields that must match for a checkpoint to be continued: they change the trajectory.
RESUME_KEYS = (
    "family", "n_layer", "d_model", "n_head", "d_ff", "vocab_size", "n_ctx", "nsp", "seed",
    "corpus", "val_fraction", "unique_tokens", "lr", "warmup_steps", "batch_size",
    "weight_decay", "beta1", "beta2", "eps", "grad_clip", "n_kv_head", "parametrization",
    "mup_base_width", "data", "data_dtype",
)  # fmt: skip


def run_training(
    config: TrainConfig,
    *,
    progress: bool = True,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Train one run as ``config`` says and return its summary (also in DIR/summary.json).

    Resumes from the newest checkpoint in ``config.out_dir`` when there is one; returns the
    stored summary at once when the run already completed or diverged. ``on_eval`` receives each
    evaluation record (the line written to DIR/metrics.jsonl) on rank 0. Under
    ``torchrun`` the run is data-parallel over the ranks (rank 0 writes). One process at a
    time trains a folder (:mod:`scalinglab.train.runlock`); a full disk is a one-line
    :class:`~scalinglab.errors.DiskFullError` naming the folder and the space left.
    """
    device = _device(config.device)
    ctx = init_distributed(device.type)
    try:
        run = _Run(config, device, ctx, progress, on_eval)
        lock = run_folder_lock(run.out) if ctx.is_main else contextlib.nullcontext()
        with lock, disk_full_names(run.out):
            return run.train()
    finally:
        ctx.close()


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ScalingLabError("device cuda requested but torch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def lr_at(config: TrainConfig, step: int, steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) in a run of ``steps`` steps."""
    assert config.lr is not None
    assert config.warmup_steps is not None
    assert config.min_lr_ratio is not None
    if config.schedule == "cosine":
        return cosine_lr(
            step,
            peak=config.lr,
            warmup=config.warmup_steps,
            total=steps,
            min_ratio=config.min_lr_ratio,
        )
    if config.schedule == "wsd":
        return wsd_lr(
            step,
            peak=config.lr,
            warmup=config.warmup_steps,
            total=steps,
            cooldown=cooldown_steps(steps, config.cooldown_fraction),
            min_ratio=config.min_lr_ratio,
            shape=config.cooldown_shape,
        )
    return constant_lr(step, peak=config.lr, warmup=config.warmup_steps)


@dataclass
class _Clock:
    """Wall, training and evaluation seconds, accumulated over resumes."""

    wall_before: float = 0.0
    train_before: float = 0.0
    eval_before: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    train_now: float = 0.0
    eval_now: float = 0.0

    @property
    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.started

    @property
    def train(self) -> float:
        return self.train_before + self.train_now

    @property
    def eval(self) -> float:
        return self.eval_before + self.eval_now


class _Run:
    def __init__(
        self,
        config: TrainConfig,
        device: torch.device,
        ctx: DistContext,
        progress: bool,
        on_eval: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.cfg = resolve(config, ctx.world_size)
        self.device = device if device.type == "cpu" else torch.device("cuda", ctx.local_rank)
        self.ctx = ctx
        self.show_progress = progress and ctx.is_main
        self.on_eval = on_eval
        self.out = Path(self.cfg.out_dir)
        self.shape = self.cfg.shape()
        self.params = count_params(self.shape)
        self.flops_token = flops_per_token(self.shape)
        self.steps = total_steps(self.cfg)
        self.end_step = min(self.steps, self.cfg.stop_at_step or self.steps)
        self.bf16 = default_bf16(self.device) if self.cfg.bf16 is None else self.cfg.bf16
        self.tf32 = enable_tf32(self.device)
        self.tokens_per_step = self.cfg.batch_size * self.shape.n_ctx  # type: ignore[operator]
        self.clock = _Clock()
        self.monitor = DivergenceMonitor(factor=self.cfg.divergence_factor)
        self.train_loss: float | None = None
        self.val_loss: float | None = None
        self.done = 0
        self.evaluations = 0
        self.eval_tokens = 0

    # ---- setup -------------------------------------------------------------------
    def train(self) -> RunSummary:
        summary_path = self.out / "summary.json"
        if summary_path.exists():
            previous = RunSummary.read(summary_path)
            complete = previous.tokens == self.steps * self.tokens_per_step
            if previous.status == "diverged" or (previous.status == "completed" and complete):
                return previous  # training again would reproduce it exactly
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        with disk_full_names(cache_root(self.cfg.cache_dir)):
            self.data = self._prepare_data()
        if self.data.vocab_size != self.shape.vocab_size:
            raise ScalingLabError(
                f"the corpus yields a tokenizer of {self.data.vocab_size} tokens, "
                f"fewer than --vocab {self.shape.vocab_size}; lower --vocab"
            )
        torch.manual_seed(self.cfg.seed)
        self.model = build_model(self.shape).to(self.device)
        if self.cfg.parametrization == "mup":
            apply_mup(self.model, self.cfg.mup_base_width)
        self.optimizer = _optimizer(self.model, self.cfg)
        start = self._restore()
        self.peak, self.peak_source = (
            (self.cfg.peak_flops, "given (--peak-flops)")
            if self.cfg.peak_flops
            else peak_flops(self.device, torch.bfloat16 if self.bf16 else torch.float32,
                            self.cfg.cache_dir)
        )  # fmt: skip
        self.runner: nn.Module = self.model
        if self.cfg.compile:
            self.runner = torch.compile(self.model)
        if self.ctx.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.runner = DistributedDataParallel(self.runner, device_ids=ids)
        try:
            return self._loop(start)
        except Exception as error:
            if self.ctx.is_main and not (isinstance(error, ScalingLabError) or is_disk_full(error)):
                self._summary("failed", f"{type(error).__name__}: {error}").write(summary_path)
            raise

    def _prepare_data(self) -> PreparedData:
        """The run's data; under torchrun rank 0 builds the tokenizer and shard caches
        while the other ranks wait, then map what it built."""
        if not self.ctx.is_main:
            self.ctx.barrier()
        data = prepare_data(
            family=self.shape.family,
            corpus=self.cfg.corpus,
            vocab_size=self.cfg.vocab_size,
            n_ctx=self.shape.n_ctx,
            seed=self.cfg.seed,
            nsp=self.cfg.nsp,
            unique_tokens=self.cfg.unique_tokens,
            val_fraction=self.cfg.val_fraction,
            val_tokens=self.cfg.val_tokens,
            cache_dir=self.cfg.cache_dir,
            data=self.cfg.data,
            data_dtype=self.cfg.data_dtype,
        )
        if self.ctx.is_main:
            self.ctx.barrier()
        return data

    def _restore(self) -> int:
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        if latest_checkpoint(self.out) is None:
            if self.ctx.is_main:
                atomic_write_json(self.out / "config.json", self.cfg.to_dict())
                (self.out / "metrics.jsonl").unlink(missing_ok=True)
            self.ctx.barrier()
            return 0
        stored = json.loads((self.out / "config.json").read_text())
        changed = [k for k in RESUME_KEYS if stored.get(k) != getattr(self.cfg, k)]
        if changed:
            raise ScalingLabError(
                f"{self.out} holds a run with different {', '.join(changed)}; resume it with "
                "the same settings or choose another output folder"
            )
        restored = restore_checkpoint(self.out, self.model, self.optimizer)
        assert restored is not None  # a checkpoint exists; none intact raised
        state = restored[1]
        self.monitor = DivergenceMonitor(**state["monitor"])
        self.clock = _Clock(
            wall_before=state["wall_seconds"],
            train_before=state["train_seconds"],
            eval_before=state.get("eval_seconds", 0.0),
        )
        self.evaluations = int(state.get("evaluations", 0))
        self.train_loss = state.get("train_loss")
        self.val_loss = state.get("val_loss")
        if self.ctx.is_main:
            atomic_write_json(self.out / "config.json", self.cfg.to_dict())
            _truncate_metrics(self.out / "metrics.jsonl", state["step"])
        self.ctx.barrier()
        self.done = int(state["step"])
        return self.done

    # ---- the loop ----------------------------------------------------------------
    def _loop(self, start: int) -> RunSummary:
        bar = TrainProgress(self.end_step, start, enabled=self.show_progress, label=self.out.name)
        reason = ""
        batches = BatchPrefetcher(
            self._host_batches,
            range(start, self.end_step),
            pin=self.device.type == "cuda",
            depth=2 if self.cfg.prefetch else 0,
        )
        with bar, batches:
            self.batches = batches
            interval_tokens, interval_train = 0, 0.0
            for step in range(start, self.end_step):
                began = time.perf_counter()
                lr = lr_at(self.cfg, step, self.steps)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                loss = self._step(step)
                self.train_loss = loss
                spent = time.perf_counter() - began
                self.clock.train_now += spent
                interval_train += spent
                interval_tokens += self.tokens_per_step
                reason = self.monitor.update(loss, step) or ""
                done = self.done = step + 1
                bar.update(done, loss, interval_tokens / max(interval_train, 1e-9))
                if reason:
                    break
                if done % self.cfg.eval_every == 0 or done == self.end_step:  # type: ignore[operator]
                    record = self._evaluate(done, lr, interval_tokens / max(interval_train, 1e-9))
                    if not math.isfinite(record["val_loss"]):
                        reason = f"validation loss is {record['val_loss']} at step {done}"
                        break
                    interval_tokens, interval_train = 0, 0.0
                if self._checkpoint_due(done):
                    self._save(done)
        status = "diverged" if reason else "completed" if self.end_step == self.steps else "stopped"
        summary = self._summary(status, reason)
        if self.ctx.is_main:
            if status == "completed" and self.cfg.export_hf:
                self._export()
            summary.write(self.out / "summary.json")
        self.ctx.barrier()
        return summary

    def _checkpoint_due(self, done: int) -> bool:
        every = self.cfg.checkpoint_every
        return bool(
            done == self.end_step or (every and done % every == 0) or done in self.cfg.save_at_steps
        )

    def _step(self, step: int) -> float:
        """One optimizer step; returns the global mean training loss (nats/token)."""
        batches = self._micro_batches(step)
        local_count = sum(int((b["labels"] != -100).sum()) for b in batches)
        counts = torch.tensor([float(local_count)], dtype=torch.float64)
        global_count = max(1.0, float(self.ctx.all_sum(counts)[0]))
        loss_sum = torch.zeros((), dtype=torch.float64)
        for index, batch in enumerate(batches):
            last = index == len(batches) - 1
            sync = contextlib.nullcontext()
            if self.ctx.world_size > 1 and not last:
                sync = self.runner.no_sync()  # type: ignore[operator]
            with sync:
                summed = self._loss_sum(self.runner, batch)
                (summed * (self.ctx.world_size / global_count)).backward()
            loss_sum += summed.detach().double().cpu()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(self.ctx.all_sum(loss_sum.reshape(1))[0]) / global_count

    def _micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        """This rank's micro-batches of global step ``step`` on the device, from the
        prefetcher (built ahead in a background thread unless ``prefetch`` is off)."""
        return [self._to_device(batch) for batch in self.batches.get(step)]

    def _host_batches(self, step: int) -> Iterator[dict[str, np.ndarray]]:
        """This rank's micro-batches of global step ``step`` (disjoint slices of the same
        global sample indices for every world size), as host arrays."""
        batch, micro = self.cfg.batch_size, self.cfg.micro_batch_size
        assert batch is not None
        assert micro is not None
        per_rank = batch // self.ctx.world_size
        first = step * batch + self.ctx.rank * per_rank
        for offset in range(0, per_rank, micro):
            yield self.data.train.batch(range(first + offset, first + offset + micro))

    def _to_device(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Numpy arrays or host tensors (pinned ones copy asynchronously) on the device."""
        return {k: torch.as_tensor(v).to(self.device, non_blocking=True) for k, v in batch.items()}

    def _loss_sum(
        self, model: nn.Module, batch: dict[str, torch.Tensor], nsp: bool = True
    ) -> torch.Tensor:
        """Summed cross-entropy over target tokens (+ summed NSP loss when present)."""
        inputs = {"input_ids": batch["input_ids"]}
        if "token_type_ids" in batch:
            inputs["token_type_ids"] = batch["token_type_ids"]
        with bf16_autocast(self.device.type, self.bf16):
            out = model(**inputs)
        loss = cross_entropy(out.logits, batch["labels"], reduction="sum")
        if nsp and "next_sentence_label" in batch and out.seq_relationship_logits is not None:
            loss = loss + F.cross_entropy(
                out.seq_relationship_logits.float(), batch["next_sentence_label"], reduction="sum"
            )
        return loss

    # ---- evaluation, checkpoints, summary -----------------------------------------
    @torch.no_grad()
    def _evaluate(self, done: int, lr: float, tokens_per_second: float) -> dict[str, Any]:
        began = time.perf_counter()
        self.model.eval()
        total = torch.zeros(2, dtype=torch.float64)
        indices = list(range(self.ctx.rank, self.data.n_val_samples, self.ctx.world_size))
        size = self.cfg.micro_batch_size or 1
        for offset in range(0, len(indices), size):
            batch = self._to_device(self.data.val.batch(indices[offset : offset + size]))
            total[0] += float(self._loss_sum(self.model, batch, nsp=False))
            total[1] += int((batch["labels"] != -100).sum())
        self.ctx.all_sum(total)
        self.model.train()
        self.val_loss = float(total[0] / max(total[1], 1.0))
        self.eval_tokens = int(total[1])
        self.evaluations += 1
        self.clock.eval_now += time.perf_counter() - began
        tokens = done * self.tokens_per_step
        achieved = self.flops_token.exact * tokens_per_second
        record = {
            "step": done,
            "tokens": tokens,
            "flops": self.flops_token.exact * tokens,
            "flops_6nd": 6.0 * self.params.total * tokens,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "lr": lr,
            "epochs": tokens / self.data.unique_tokens,
            "wall_seconds": self.clock.wall,
            "train_seconds": self.clock.train,
            "tokens_per_second": tokens_per_second,
            "flops_per_second": achieved,
            "mfu": achieved / self.peak if self.peak else None,
        }
        if self.ctx.is_main:
            with (self.out / "metrics.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            if self.on_eval is not None:
                self.on_eval(record)
        return record

    def _save(self, done: int) -> None:
        if self.ctx.is_main:
            state = {
                "step": done,
                "samples": done * self.cfg.batch_size,  # type: ignore[operator]
                "tokens": done * self.tokens_per_step,
                "monitor": self.monitor.state(),
                "wall_seconds": self.clock.wall,
                "train_seconds": self.clock.train,
                "eval_seconds": self.clock.eval,
                "evaluations": self.evaluations,
                "train_loss": self.train_loss,
                "val_loss": self.val_loss,
            }
            save_checkpoint(
                self.out, done, self.model, self.optimizer, state,
                keep_steps=tuple(self.cfg.save_at_steps),
            )  # fmt: skip
        self.ctx.barrier()

    def _export(self) -> None:
        from scalinglab.models.hf_export import export_hf

        tokenizer = self.data.tokenizer
        tokenizer_dir = None if tokenizer is None else tokenizer.save_hf(self.out / "tokenizer")
        model = folded_copy(self.model) if self.cfg.parametrization == "mup" else self.model
        export_hf(model, model.shape, self.out / "hf", tokenizer_dir=tokenizer_dir)

    def _summary(self, status: str, reason: str) -> RunSummary:
        done = self.done
        tokens = done * self.tokens_per_step
        train_seconds = self.clock.train
        rate = tokens / train_seconds if train_seconds > 0 else 0.0
        data = getattr(self, "data", None)
        unique = data.unique_tokens if isinstance(data, PreparedData) else 0
        return RunSummary(
            status=status,
            reason=reason,
            out_dir=str(self.out),
            family=self.shape.family,
            shape=self.shape.to_dict(),
            seed=self.cfg.seed,
            n_params=self.params.total,
            n_params_nonembed=self.params.nonembed,
            tokens=tokens,
            steps=done,
            flops=self.flops_token.exact * tokens,
            flops_6nd=6.0 * self.params.total * tokens,
            final_val_loss=self.val_loss,
            final_train_loss=self.train_loss,
            unique_tokens=unique,
            epochs=tokens / unique if unique else 0.0,
            wall_seconds=self.clock.wall,
            train_seconds=train_seconds,
            eval_seconds=self.clock.eval,
            evaluations=self.evaluations,
            eval_tokens=self.eval_tokens,
            tokens_per_second=rate,
            flops_per_second=self.flops_token.exact * rate,
            mfu=self.flops_token.exact * rate / self.peak if getattr(self, "peak", None) else None,
            peak_flops=getattr(self, "peak", None),
            peak_flops_source=getattr(self, "peak_source", ""),
            schedule=self.cfg.schedule,
            lr=float(self.cfg.lr or 0.0),
            batch_size=int(self.cfg.batch_size or 0),
            world_size=self.ctx.world_size,
            device=str(self.device),
            bf16=self.bf16,
            tf32=self.tf32,
            config=self.cfg.to_dict(),
        )


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW at the peak rate; under muP each hidden matrix at ``lr / m``."""
    scales = lr_multipliers(model, cfg.mup_base_width) if cfg.parametrization == "mup" else None
    return build_optimizer(
        model, lr=float(cfg.lr), weight_decay=cfg.weight_decay,  # type: ignore[arg-type]
        betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, lr_scales=scales,
    )  # fmt: skip


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop evaluation lines written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a kill
    atomic_write_text(path, "".join(line + "\n" for line in kept))
