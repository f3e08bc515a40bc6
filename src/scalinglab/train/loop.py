"""One training run, top to bottom: :func:`run_training`.

The pieces live beside it: the step and the evaluation in :mod:`scalinglab.train.step`,
the resumable counters in :mod:`scalinglab.train.state`, checkpoints in
:mod:`scalinglab.train.checkpoint`. The loop in order: resolve defaults; prepare data
(cached tokenizer and shards); seed and build the model; restore the newest checkpoint of
``out_dir`` if there is one; then per optimizer step: set the learning rate, run the
micro-batches of this rank (loss summed over target tokens and divided by the global
count, so gradient accumulation and data parallelism give the gradient of the
single-process batch), clip, step, check for divergence; evaluate and checkpoint at
intervals; at the end write ``summary.json`` and export the model as a Hugging Face folder
(``DIR/hf``).

Everything a step does is a function of (seed, step) and the restored state, so a run
resumed from a checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scalinglab.data.pipeline import PreparedData, prepare_data
from scalinglab.data.tokenizer import cache_root
from scalinglab.errors import ScalingLabError, disk_full_names, is_disk_full
from scalinglab.io import atomic_write_json
from scalinglab.models.build import build_model
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.models.mup import apply_mup, folded_copy, lr_multipliers
from scalinglab.train.activation_checkpointing import (
    apply_activation_checkpointing,
    transformer_blocks,
)
from scalinglab.train.checkpoint import (
    latest_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    save_sharded_checkpoint,
)
from scalinglab.train.config import TrainConfig
from scalinglab.train.defaults import resolve, total_steps
from scalinglab.train.distributed import DistContext, init_distributed
from scalinglab.train.divergence import DivergenceMonitor
from scalinglab.train.fsdp import full_state_dict, shard_model
from scalinglab.train.optim import build_optimizer
from scalinglab.train.peak import peak_flops
from scalinglab.train.precision import default_bf16, enable_tf32
from scalinglab.train.prefetch import BatchPrefetcher
from scalinglab.train.progress import TrainProgress
from scalinglab.train.runlock import run_folder_lock
from scalinglab.train.schedule import constant_lr, cooldown_steps, cosine_lr, wsd_lr
from scalinglab.train.state import RunState, truncate_metrics
from scalinglab.train.step import host_micro_batches, optimizer_step, to_device, validation_sums
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
    ctx = init_distributed(device.type, group_of_one=config.fsdp)
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


class _Run:
    """One run in progress: its resolved configuration, data, model, optimizer and
    :class:`~scalinglab.train.state.RunState`; :meth:`train` sets them up and loops."""

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
        self.state = RunState(monitor=DivergenceMonitor(factor=self.cfg.divergence_factor))

    # ---- setup -------------------------------------------------------------------
    def train(self) -> RunSummary:
        """Train from the newest checkpoint (or the start) to the end step; a run already
        completed or diverged returns its stored summary."""
        summary_path = self.out / "summary.json"
        finished = self._finished(summary_path)
        if finished is not None:
            return finished
        self._setup()
        start = self._restore()
        self.peak, self.peak_source = _peak(self.cfg, self.device, self.bf16)
        runner = _wrap(self.model, self.cfg, self.ctx, self.device)
        try:
            return self._loop(start, runner)
        except Exception as error:
            if self.ctx.is_main and not (isinstance(error, ScalingLabError) or is_disk_full(error)):
                self._summary("failed", f"{type(error).__name__}: {error}").write(summary_path)
            raise

    def _finished(self, summary_path: Path) -> RunSummary | None:
        """The stored summary of a run that completed its budget or diverged, else None."""
        if not summary_path.exists():
            return None
        previous = RunSummary.read(summary_path)
        complete = previous.tokens == self.steps * self.tokens_per_step
        if previous.status == "diverged" or (previous.status == "completed" and complete):
            return previous  # training again would reproduce it exactly
        return None

    def _setup(self) -> None:
        """Threads, data, the seeded model and its optimizer."""
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        with disk_full_names(cache_root(self.cfg.cache_dir)):
            self.data = _prepare_data(self.cfg, self.ctx)
        if self.data.vocab_size != self.shape.vocab_size:
            raise ScalingLabError(
                f"the corpus yields a tokenizer of {self.data.vocab_size} tokens, "
                f"fewer than --vocab {self.shape.vocab_size}; lower --vocab"
            )
        self.model = _build_model(self.cfg, self.device, self.bf16)
        self.optimizer = _optimizer(self.model, self.cfg)

    # ---- checkpoints ---------------------------------------------------------------
    def _restore(self) -> int:
        """Load the newest checkpoint of the folder (after checking that its settings may
        be continued) or start a fresh folder; returns the step to start from."""
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        if latest_checkpoint(self.out) is None:
            if self.ctx.is_main:
                atomic_write_json(self.out / "config.json", self.cfg.to_dict())
                (self.out / "metrics.jsonl").unlink(missing_ok=True)
            self.ctx.barrier()
            return 0
        _check_resumable(self.out, self.cfg)
        restored = restore_checkpoint(self.out, self.model, self.optimizer)
        assert restored is not None  # a checkpoint exists; none intact raised
        self.state = RunState.restored(restored[1])
        if self.ctx.is_main:
            atomic_write_json(self.out / "config.json", self.cfg.to_dict())
            truncate_metrics(self.out / "metrics.jsonl", self.state.done)
        self.ctx.barrier()
        return self.state.done

    def _checkpoint_due(self, done: int) -> bool:
        every = self.cfg.checkpoint_every
        return bool(
            done == self.end_step or (every and done % every == 0) or done in self.cfg.save_at_steps
        )

    def _save(self) -> None:
        """Checkpoint the run: safetensors from rank 0, or every rank's shards (FSDP)."""
        record = self.state.checkpoint_record(self.cfg.batch_size, self.tokens_per_step)  # type: ignore[arg-type]
        keep_steps = tuple(self.cfg.save_at_steps)
        done = self.state.done
        if self.cfg.fsdp:
            save_sharded_checkpoint(
                self.out, done, self.model, self.optimizer, record, self.ctx, keep_steps=keep_steps
            )
        elif self.ctx.is_main:
            save_checkpoint(
                self.out, done, self.model, self.optimizer, record, keep_steps=keep_steps
            )
        self.ctx.barrier()

    # ---- the loop ----------------------------------------------------------------
    def _loop(self, start: int, runner: nn.Module) -> RunSummary:
        """Steps from ``start`` to the end step through ``runner``, evaluating and
        checkpointing at their intervals; then the summary (and the HF export)."""
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
                lr = self._set_lr(step)
                loss = self._step(runner, step)
                spent = time.perf_counter() - began
                self.state.clock.train_now += spent
                interval_train += spent
                interval_tokens += self.tokens_per_step
                rate = interval_tokens / max(interval_train, 1e-9)
                reason = self.state.monitor.update(loss, step) or ""
                done = self.state.done = step + 1
                bar.update(done, loss, rate)
                if reason:
                    break
                if done % self.cfg.eval_every == 0 or done == self.end_step:  # type: ignore[operator]
                    record = self._evaluate(lr, rate)
                    if not math.isfinite(record["val_loss"]):
                        reason = f"validation loss is {record['val_loss']} at step {done}"
                        break
                    interval_tokens, interval_train = 0, 0.0
                if self._checkpoint_due(done):
                    self._save()
        return self._finish(reason)

    def _set_lr(self, step: int) -> float:
        """Set every group's rate for ``step`` (the schedule times the group's factor)."""
        lr = lr_at(self.cfg, step, self.steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def _step(self, runner: nn.Module, step: int) -> float:
        """One optimizer step; returns the global mean training loss (nats/token)."""
        batches = [to_device(batch, self.device) for batch in self.batches.get(step)]
        loss = optimizer_step(
            runner, self.model, self.optimizer, batches, self.ctx,
            grad_clip=self.cfg.grad_clip, bf16=self.bf16,
            defer_sync=self.ctx.world_size > 1 and not self.cfg.fsdp,
        )  # fmt: skip
        self.state.train_loss = loss
        return loss

    def _host_batches(self, step: int) -> Iterator[dict[str, np.ndarray]]:
        """This rank's micro-batches of ``step`` as host arrays (what the prefetcher
        builds, ahead in a background thread unless ``prefetch`` is off)."""
        return host_micro_batches(
            self.data, step,
            batch_size=self.cfg.batch_size,  # type: ignore[arg-type]
            micro_batch_size=self.cfg.micro_batch_size,  # type: ignore[arg-type]
            ctx=self.ctx,
        )  # fmt: skip

    def _finish(self, reason: str) -> RunSummary:
        """Write the summary of the session that ends here (and the HF export of a
        completed run, rank 0)."""
        status = "diverged" if reason else "completed" if self.end_step == self.steps else "stopped"
        summary = self._summary(status, reason)
        if status == "completed" and self.cfg.export_hf:
            _export_hf(self.model, self.cfg, self.ctx, self.data, self.out)
        if self.ctx.is_main:
            summary.write(self.out / "summary.json")
        self.ctx.barrier()
        return summary

    # ---- evaluation, export, summary ------------------------------------------------
    def _evaluate(self, lr: float, tokens_per_second: float) -> dict[str, Any]:
        """Evaluate on the validation set and record it (DIR/metrics.jsonl, ``on_eval``)."""
        began = time.perf_counter()
        total, count = validation_sums(
            self.model, self.data, self.ctx,
            micro_batch_size=self.cfg.micro_batch_size or 1, device=self.device, bf16=self.bf16,
            lockstep=self.cfg.fsdp,
        )  # fmt: skip
        state = self.state
        state.val_loss = total / max(count, 1.0)
        state.eval_tokens = count
        state.evaluations += 1
        state.clock.eval_now += time.perf_counter() - began
        record = self._eval_record(lr, tokens_per_second)
        if self.ctx.is_main:
            with (self.out / "metrics.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
            if self.on_eval is not None:
                self.on_eval(record)
        return record

    def _eval_record(self, lr: float, tokens_per_second: float) -> dict[str, Any]:
        """The metrics line of an evaluation just made (FLOPs exact and 6ND, MFU)."""
        state = self.state
        tokens = state.done * self.tokens_per_step
        achieved = self.flops_token.exact * tokens_per_second
        return {
            "step": state.done,
            "tokens": tokens,
            "flops": self.flops_token.exact * tokens,
            "flops_6nd": 6.0 * self.params.total * tokens,
            "train_loss": state.train_loss,
            "val_loss": state.val_loss,
            "lr": lr,
            "epochs": tokens / self.data.unique_tokens,
            "wall_seconds": state.clock.wall,
            "train_seconds": state.clock.train,
            "tokens_per_second": tokens_per_second,
            "flops_per_second": achieved,
            "mfu": achieved / self.peak if self.peak else None,
        }

    def _summary(self, status: str, reason: str) -> RunSummary:
        state = self.state
        tokens = state.done * self.tokens_per_step
        train_seconds = state.clock.train
        rate = tokens / train_seconds if train_seconds > 0 else 0.0
        data = getattr(self, "data", None)
        unique = data.unique_tokens if isinstance(data, PreparedData) else 0
        peak = getattr(self, "peak", None)
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
            steps=state.done,
            flops=self.flops_token.exact * tokens,
            flops_6nd=6.0 * self.params.total * tokens,
            final_val_loss=state.val_loss,
            final_train_loss=state.train_loss,
            unique_tokens=unique,
            epochs=tokens / unique if unique else 0.0,
            wall_seconds=state.clock.wall,
            train_seconds=train_seconds,
            eval_seconds=state.clock.eval,
            evaluations=state.evaluations,
            eval_tokens=state.eval_tokens,
            tokens_per_second=rate,
            flops_per_second=self.flops_token.exact * rate,
            mfu=self.flops_token.exact * rate / peak if peak else None,
            peak_flops=peak,
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


def _prepare_data(cfg: TrainConfig, ctx: DistContext) -> PreparedData:
    """The run's data; under torchrun rank 0 builds the tokenizer and shard caches while
    the other ranks wait, then map what it built."""
    if not ctx.is_main:
        ctx.barrier()
    data = run_data(cfg)
    if ctx.is_main:
        ctx.barrier()
    return data


def run_data(cfg: TrainConfig) -> PreparedData:
    """The tokenizer, shards and samplers ``cfg`` trains on (built once, then read from
    the cache); ``.unique_tokens`` is its training split's size in tokens."""
    shape = cfg.shape()
    return prepare_data(
        family=shape.family,
        corpus=cfg.corpus,
        vocab_size=cfg.vocab_size,
        n_ctx=shape.n_ctx,
        seed=cfg.seed,
        nsp=cfg.nsp,
        unique_tokens=cfg.unique_tokens,
        val_fraction=cfg.val_fraction,
        val_tokens=cfg.val_tokens,
        cache_dir=cfg.cache_dir,
        data=cfg.data,
        data_dtype=cfg.data_dtype,
    )


def _peak(cfg: TrainConfig, device: torch.device, bf16: bool) -> tuple[float | None, str]:
    """Peak FLOP/s of the device for MFU (given, measured or catalogued) and its source."""
    if cfg.peak_flops:
        return cfg.peak_flops, "given (--peak-flops)"
    return peak_flops(device, torch.bfloat16 if bf16 else torch.float32, cfg.cache_dir)


def _build_model(cfg: TrainConfig, device: torch.device, bf16: bool) -> nn.Module:
    """The seeded model with activation checkpointing and FSDP sharding as ``cfg`` asks.
    A sharded model is built on the CPU, and ``fully_shard`` moves each rank's shards to
    ``device``, so no device holds the whole model."""
    n_layer = cfg.shape().n_layer
    model = _seeded_model(cfg, torch.device("cpu") if cfg.fsdp else device)
    if cfg.activation_checkpointing:
        apply_activation_checkpointing(transformer_blocks(model, n_layer))
    if cfg.fsdp:
        shard_model(model, n_layer, device, bf16)
    return model


def _wrap(model: nn.Module, cfg: TrainConfig, ctx: DistContext, device: torch.device) -> nn.Module:
    """The module the steps run through: ``model``, compiled when asked, wrapped in
    ``DistributedDataParallel`` over several ranks unless it is sharded."""
    runner: nn.Module = model
    if cfg.compile:
        runner = torch.compile(model)  # type: ignore[assignment]
    if ctx.world_size > 1 and not cfg.fsdp:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        runner = DistributedDataParallel(runner, device_ids=ids)
    return runner


def _seeded_model(cfg: TrainConfig, device: torch.device) -> nn.Module:
    """The run's model, initialised from ``cfg.seed`` (muP applied when asked)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.shape()).to(device)
    if cfg.parametrization == "mup":
        apply_mup(model, cfg.mup_base_width)
    return model


def _export_hf(
    model: nn.Module, cfg: TrainConfig, ctx: DistContext, data: PreparedData, out: Path
) -> None:
    """Export the run's model and tokenizer as ``out/hf`` (rank 0); a sharded model is
    gathered first, which every rank takes part in."""
    from scalinglab.models.hf_export import export_hf

    whole = _whole_model(model, cfg, ctx)
    if not ctx.is_main:
        return
    tokenizer = data.tokenizer
    tokenizer_dir = None if tokenizer is None else tokenizer.save_hf(out / "tokenizer")
    whole = folded_copy(whole) if cfg.parametrization == "mup" else whole
    export_hf(whole, whole.shape, out / "hf", tokenizer_dir=tokenizer_dir)


def _whole_model(model: nn.Module, cfg: TrainConfig, ctx: DistContext) -> nn.Module:
    """``model`` with every parameter whole: itself, or for a sharded run a CPU copy
    loaded with the gathered full state dict on rank 0 (``model`` on the others)."""
    if not cfg.fsdp:
        return model
    state = full_state_dict(model)
    if not ctx.is_main:
        return model
    whole = build_model(cfg.shape())
    if cfg.parametrization == "mup":
        apply_mup(whole, cfg.mup_base_width)
    whole.load_state_dict(state)
    return whole


def _check_resumable(out: Path, cfg: TrainConfig) -> None:
    """Refuse to continue the run in ``out`` with settings that change its trajectory, or
    without the sharding its checkpoints were written with."""
    stored = json.loads((out / "config.json").read_text())
    if bool(stored.get("fsdp", False)) != cfg.fsdp:
        flag = "--fsdp" if stored.get("fsdp") else "no --fsdp"
        raise ScalingLabError(
            f"{out} holds a run trained with {flag}; resume it with {flag} (any number of "
            "processes) or choose another output folder"
        )
    changed = [k for k in RESUME_KEYS if stored.get(k) != getattr(cfg, k)]
    if changed:
        raise ScalingLabError(
            f"{out} holds a run with different {', '.join(changed)}; resume it with "
            "the same settings or choose another output folder"
        )


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW at the peak rate; under muP each hidden matrix at ``lr / m``."""
    scales = lr_multipliers(model, cfg.mup_base_width) if cfg.parametrization == "mup" else None
    return build_optimizer(
        model, lr=float(cfg.lr), weight_decay=cfg.weight_decay,  # type: ignore[arg-type]
        betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, lr_scales=scales,
    )  # fmt: skip
