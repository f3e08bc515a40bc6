"""Scale-aware defaults for the fields of a :class:`TrainConfig` left ``None``.

Learning rate: Kaplan et al. 2020 (arXiv:2001.08361, eq. D.1) fit the best Adam learning
rate of their decoder-only models as ``LR(N) ≈ 0.003239 − 0.0001395 · ln N`` with ``N``
the non-embedding parameters. Their fit spans models from about 1e3 to 1e9 non-embedding
parameters, so it covers the tiny models a CPU trains; the newer fit of DeepSeek LLM 2024
(``η = 0.3118 C^−0.125``) was measured at 1e17–3e20 FLOPs and would be an extrapolation
over five orders of magnitude here. We clamp the result to [1e-4, 3e-3].

Batch size: DeepSeek LLM 2024 (arXiv:2401.02954, section 3.1) fit the best batch as
``B_opt = 0.2920 · C^0.3271`` tokens for compute ``C`` in FLOPs, the same trend as the
critical batch size of McCandlish et al. 2018 / Kaplan et al. 2020 (larger runs tolerate
larger batches). Below their range this is an extrapolation, so we additionally cap the
batch so that a run has at least ``MIN_STEPS`` optimizer steps: tiny budgets need steps
more than they need large batches. The batch is rounded to whole sequences.

Micro-batch: the largest divisor of the per-rank batch with at most ``MAX_MICRO_TOKENS``
tokens (gradient accumulation makes up the rest). Warmup: 5% of the steps (at least
one); checkpoints: about ``EVALS_PER_RUN`` times per run; ``min_lr_ratio``: 0.1 for
cosine (Hoffmann et al. 2022), 0 for WSD (Hägele et al. 2024 cool down to zero).

Evaluation: sized to the run, so that a small run does not spend its time validating.
The validation set itself stays fixed (``val_tokens``, the same tokens for every run of
a sweep, so losses compare across runs); what scales is how often it is scored. One
evaluation costs about ``EVAL_COST`` training tokens per validation token (a forward
pass without backward and optimizer step: 1/3 of the FLOPs, measured 0.43 of the time
on CPU for a 1 x 64 GPT whose vocabulary softmax dominates; we take 0.5), and the
evaluations of a run may cost at most ``EVAL_SHARE`` of its training time (11%, so 10%
of training + evaluation: room under 15% for load on a shared machine). A run gets that
many evaluations, at most ``EVALS_PER_RUN``, at least one (at the end); below about
``EVAL_COST * val_tokens / EVAL_SHARE`` training tokens (150k at the defaults) that one
final evaluation costs more than the share. The run's summary records how many
evaluations it made, of how many tokens, and their seconds.

A recipe fitted on this machine's own sweep (``scalinglab recipe fit``, applied by
:func:`apply_recipe`) replaces the first two rules where it has a law.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from scalinglab.errors import ScalingLabError, ScalingLabWarning
from scalinglab.models.counting import count_params, flops_per_token
from scalinglab.train.config import PARAMETRIZATIONS, TrainConfig
from scalinglab.train.schedule import COOLDOWN_SHAPES, SCHEDULES

if TYPE_CHECKING:
    from scalinglab.laws.hyperparams import Recipe

MIN_STEPS = 100
EVALS_PER_RUN = 10
#: Training tokens one validation token costs (forward only; see the module docstring).
EVAL_COST = 0.5
#: Evaluation time a run may spend, as a fraction of its training time.
EVAL_SHARE = 0.11
LR_RANGE = (1e-4, 3e-3)
MAX_MICRO_TOKENS = 65_536


def kaplan_lr(n_params_nonembed: int) -> float:
    """Kaplan et al. 2020 eq. D.1, clamped to ``LR_RANGE``."""
    lr = 0.003239 - 0.0001395 * math.log(max(n_params_nonembed, 1))
    return min(max(lr, LR_RANGE[0]), LR_RANGE[1])


def deepseek_batch_tokens(flops: float) -> float:
    """DeepSeek LLM 2024 optimal batch in tokens for a budget of ``flops`` FLOPs."""
    return 0.2920 * flops**0.3271


def default_batch_size(tokens: int, n_ctx: int, flops: float) -> int:
    """Global batch in sequences: DeepSeek's B_opt, capped for ``MIN_STEPS`` steps."""
    by_compute = deepseek_batch_tokens(flops) / n_ctx
    by_steps = tokens / (n_ctx * MIN_STEPS)
    return max(1, math.floor(min(by_compute, by_steps)))


def default_micro_batch(per_rank: int, n_ctx: int) -> int:
    """The largest divisor of ``per_rank`` sequences holding at most ``MAX_MICRO_TOKENS``
    tokens: the whole per-rank batch at CPU scale, gradient accumulation when a large
    budget's batch would not fit in accelerator memory at once."""
    fitting = [
        d for d in range(1, per_rank + 1) if per_rank % d == 0 and d * n_ctx <= MAX_MICRO_TOKENS
    ]
    return max(fitting, default=1)


def apply_recipe(config: TrainConfig, recipe: Recipe) -> tuple[TrainConfig, list[str]]:
    """``config`` with its learning rate (and batch, where the recipe has a batch law)
    taken from ``recipe`` when the config leaves them unset, and one line per value set
    (e.g. ``"lr 0.0031 from the recipe (lr* = ...)"``)."""
    shape = config.shape()
    changes: dict[str, object] = {}
    if config.lr is None:
        lr = recipe.learning_rate(count_params(shape).nonembed, config.tokens)
        if lr is not None:
            changes["lr"] = lr
    if config.batch_size is None:
        flops = flops_per_token(shape).exact * config.tokens
        batch = recipe.batch_size(flops, shape.n_ctx)
        if batch is not None:
            changes["batch_size"] = batch
    said = [f"{key} {value:.4g} from the recipe" for key, value in changes.items()]
    return config.replace(**changes), said


def total_steps(config: TrainConfig) -> int:
    """Optimizer steps that spend ``config.tokens`` (rounded up to a whole step)."""
    assert config.batch_size is not None
    per_step = config.batch_size * config.shape().n_ctx
    return max(1, math.ceil(config.tokens / per_step))


def resolve(config: TrainConfig, world_size: int = 1) -> TrainConfig:
    """A copy of ``config`` with every ``None`` default filled in and the fields checked;
    with prepared ``data`` its index sets the vocabulary size."""
    _check(config)
    config = _data_vocab(config)
    shape = config.shape()
    changes: dict[str, object] = {}
    if config.lr is None:
        changes["lr"] = kaplan_lr(count_params(shape).nonembed)
    if config.min_lr_ratio is None:
        changes["min_lr_ratio"] = 0.1 if config.schedule == "cosine" else 0.0
    batch = config.batch_size
    if batch is None:
        flops = flops_per_token(shape).exact * config.tokens
        batch = default_batch_size(config.tokens, shape.n_ctx, flops)
        batch = max(world_size, batch - batch % world_size)
        changes["batch_size"] = batch
    micro = config.micro_batch_size or default_micro_batch(batch // world_size, shape.n_ctx)
    if batch % (micro * world_size):
        raise ScalingLabError(
            f"batch_size {batch} is not a multiple of micro_batch_size {micro} x "
            f"{world_size} processes; choose sizes that divide"
        )
    changes["micro_batch_size"] = micro
    resolved = config.replace(**changes)
    steps = total_steps(resolved)
    if config.warmup_steps is None:
        changes["warmup_steps"] = max(1, round(0.05 * steps))
    if config.eval_every is None:
        changes["eval_every"] = max(
            1, steps // default_evaluations(config.tokens, config.val_tokens)
        )
    if config.checkpoint_every is None:
        changes["checkpoint_every"] = max(1, steps // EVALS_PER_RUN)
    return config.replace(**changes)


def default_evaluations(tokens: int, val_tokens: int) -> int:
    """How many times a run of ``tokens`` training tokens scores its ``val_tokens``-token
    validation set by default: as often as ``EVAL_SHARE`` of the training time allows
    (each validation token costing ``EVAL_COST`` training tokens), at most
    ``EVALS_PER_RUN``, at least once (the final evaluation)."""
    affordable = EVAL_SHARE * tokens / (EVAL_COST * max(val_tokens, 1))
    return max(1, min(EVALS_PER_RUN, math.floor(affordable)))


def _data_vocab(config: TrainConfig) -> TrainConfig:
    """``config`` with the vocabulary size of its prepared data's index (said in a
    warning when that changes the configured one)."""
    if config.data is None:
        return config
    from scalinglab.data.prepared import data_vocab_size

    vocab = data_vocab_size(config.data, config.vocab_size)
    if vocab != config.vocab_size:
        warnings.warn(
            f"vocab_size {config.vocab_size} -> {vocab}: the vocabulary of {config.data}",
            ScalingLabWarning,
            stacklevel=3,
        )
    return config.replace(vocab_size=vocab)


def _check(config: TrainConfig) -> None:
    if config.schedule not in SCHEDULES:
        raise ScalingLabError(
            f"unknown schedule {config.schedule!r}; use one of {', '.join(SCHEDULES)}"
        )
    if config.cooldown_shape not in COOLDOWN_SHAPES:
        raise ScalingLabError(
            f"unknown cooldown shape {config.cooldown_shape!r}; use sqrt or linear"
        )
    if config.tokens <= 0:
        raise ScalingLabError(f"tokens must be positive, got {config.tokens}")
    if not 0.0 < config.cooldown_fraction <= 1.0:
        raise ScalingLabError(
            f"cooldown_fraction must lie in (0, 1], got {config.cooldown_fraction}"
        )
    if config.parametrization not in PARAMETRIZATIONS:
        raise ScalingLabError(
            f"unknown parametrization {config.parametrization!r}; use "
            f"{' or '.join(PARAMETRIZATIONS)}"
        )
    if config.mup_base_width < 1:
        raise ScalingLabError(
            f"mup_base_width must be a positive width, got {config.mup_base_width}"
        )
    if config.device not in ("auto", "cpu", "cuda"):
        raise ScalingLabError(f"unknown device {config.device!r}; use auto, cpu or cuda")
    for name in ("batch_size", "micro_batch_size", "eval_every", "checkpoint_every"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ScalingLabError(f"{name} must be a positive integer, got {value}")
    for name, (low, high, rule) in NUMERIC_RANGES.items():
        value = getattr(config, name)
        if value is not None and not (math.isfinite(value) and low(value) and high(value)):
            raise ScalingLabError(f"{name} must be {rule}, got {value}")
    if any(step <= 0 for step in config.save_at_steps):
        raise ScalingLabError(f"save_at_steps must be positive steps, got {config.save_at_steps}")


def _at_least(bound: float) -> Callable[[float], bool]:
    return lambda value: value >= bound


def _above(bound: float) -> Callable[[float], bool]:
    return lambda value: value > bound


def _below(bound: float) -> Callable[[float], bool]:
    return lambda value: value < bound


def _at_most(bound: float) -> Callable[[float], bool]:
    return lambda value: value <= bound


_ANY: Callable[[float], bool] = math.isfinite

#: The numeric options and the values that make sense for them: (lower test, upper test,
#: the rule in words). A value outside is a user error before anything is built, so that
#: e.g. ``--lr -1`` is one line, not the optimizer's traceback.
NUMERIC_RANGES: dict[str, tuple[Callable[[float], bool], Callable[[float], bool], str]] = {
    "lr": (_above(0.0), _ANY, "a positive number"),
    "min_lr_ratio": (_at_least(0.0), _at_most(1.0), "in [0, 1]"),
    "warmup_steps": (_at_least(0), _ANY, "a non-negative integer"),
    "weight_decay": (_at_least(0.0), _ANY, "non-negative"),
    "beta1": (_at_least(0.0), _below(1.0), "in [0, 1)"),
    "beta2": (_at_least(0.0), _below(1.0), "in [0, 1)"),
    "eps": (_above(0.0), _ANY, "a positive number"),
    "grad_clip": (_at_least(0.0), _ANY, "non-negative (0 turns clipping off)"),
    "val_fraction": (_above(0.0), _below(1.0), "in (0, 1)"),
    "val_tokens": (_above(0), _ANY, "a positive integer"),
    "unique_tokens": (_above(0), _ANY, "a positive integer"),
    "seed": (_at_least(0), _ANY, "a non-negative integer"),
    "stop_at_step": (_above(0), _ANY, "a positive integer"),
    "divergence_factor": (_above(1.0), _ANY, "above 1"),
    "threads": (_above(0), _ANY, "a positive integer"),
    "peak_flops": (_above(0.0), _ANY, "a positive number of FLOP/s"),
}
