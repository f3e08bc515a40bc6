"""Training memory per GPU: model state under DDP and ZeRO/FSDP sharding, plus activations.

Model state for AdamW in mixed precision (Rajbhandari et al. 2020, ZeRO, Section 3.1):
16 bytes per parameter = 2 (bf16 weights) + 2 (bf16 gradients) + 4 (fp32 master weights)
+ 4 + 4 (fp32 Adam first and second moments). Over ``K`` data-parallel GPUs:

- DDP: everything replicated, ``16 N``;
- ZeRO-1: optimizer state (master weights and moments, 12 bytes) sharded, ``4 N + 12 N / K``;
- ZeRO-2: gradients too, ``2 N + 14 N / K``;
- ZeRO-3 / FSDP full sharding: all of it, ``16 N / K``.

Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models", eq. 1, 16-bit activations, no tensor or sequence parallelism) per
layer and micro-batch of ``b`` sequences of ``s`` tokens, width ``h``, ``a`` heads:
``s b h (34 + 5 a s / h)`` bytes (``s b h 34`` with FlashAttention, which stores no
``s x s`` attention matrices); a model of ``L`` layers stores ``L`` times that. With full
activation checkpointing only each layer's input is kept, ``2 s b h L`` bytes, plus one
layer's activations recomputed during its backward pass. Data parallelism does not shard
activations. Not counted: the embedding and logits buffers, temporary communication
buckets, allocator fragmentation and framework overhead. So a strategy "fits" only when
its total stays within the device memory less a headroom (default
:data:`DEFAULT_HEADROOM`, 10%) kept for them: 78.4 GB on an 80 GB device does not fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.errors import ScalingLabError
from scalinglab.plan.figure import Figure

WEIGHT_BYTES = 2
GRAD_BYTES = 2
OPTIMIZER_BYTES = 12  # fp32 master weights 4 + Adam m 4 + Adam v 4
STATE_BYTES_PER_PARAM = WEIGHT_BYTES + GRAD_BYTES + OPTIMIZER_BYTES
STRATEGIES = ("ddp", "zero1", "zero2", "zero3")
#: Fraction of device memory kept free for what the estimate leaves out.
DEFAULT_HEADROOM = 0.10
STRATEGY_NAMES = {
    "ddp": "DDP",
    "zero1": "ZeRO-1",
    "zero2": "ZeRO-2",
    "zero3": "ZeRO-3 / FSDP",
}


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes per GPU under one sharding ``strategy``; ``fits`` compares with the device
    memory less ``headroom`` (a fraction, :data:`DEFAULT_HEADROOM` by default)."""

    strategy: str
    weights: float
    gradients: float
    optimizer: float
    activations: float
    activations_checkpointed: float
    device_bytes: float | None
    headroom: float = DEFAULT_HEADROOM

    @property
    def usable_bytes(self) -> float | None:
        """Device memory less the headroom: what a strategy may use and still fit."""
        return None if self.device_bytes is None else self.device_bytes * (1.0 - self.headroom)

    @property
    def state(self) -> float:
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> float:
        return self.state + self.activations

    @property
    def total_checkpointed(self) -> float:
        return self.state + self.activations_checkpointed

    @property
    def fits(self) -> bool | None:
        usable = self.usable_bytes
        return None if usable is None else self.total <= usable

    @property
    def fits_checkpointed(self) -> bool | None:
        usable = self.usable_bytes
        return None if usable is None else self.total_checkpointed <= usable

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "state": self.state,
            "total": self.total,
            "total_checkpointed": self.total_checkpointed,
            "usable_bytes": self.usable_bytes,
            "fits": self.fits,
            "fits_checkpointed": self.fits_checkpointed,
        }


def check_headroom(headroom: float) -> None:
    """A one-line error unless ``headroom`` is a fraction in [0, 1)."""
    if not 0.0 <= headroom < 1.0:
        raise ScalingLabError(f"--memory-headroom must be in [0, 1), got {headroom}")


def model_state_bytes(n_params: float, strategy: str, n_gpus: int) -> tuple[float, float, float]:
    """``(weights, gradients, optimizer)`` bytes per GPU for AdamW mixed precision."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}")
    k = max(1, int(n_gpus))
    weights = WEIGHT_BYTES * n_params
    grads = GRAD_BYTES * n_params
    optimizer = OPTIMIZER_BYTES * n_params
    if strategy in ("zero1", "zero2", "zero3"):
        optimizer /= k
    if strategy in ("zero2", "zero3"):
        grads /= k
    if strategy == "zero3":
        weights /= k
    return weights, grads, optimizer


def activation_bytes(
    n_layer: int,
    d_model: int,
    n_head: int,
    seq_len: int,
    micro_batch: int,
    flash_attention: bool = False,
) -> tuple[float, float]:
    """``(without, with)`` full activation checkpointing, Korthikanti et al. 2022 eq. 1.

    ``flash_attention`` drops the ``5 a s / h`` term: a fused attention kernel (Dao et al.
    2022) keeps no ``s x s`` score, softmax or dropout matrices for the backward pass.
    """
    s, b, h, a = float(seq_len), float(micro_batch), float(d_model), float(n_head)
    scores = 0.0 if flash_attention else 5.0 * a * s / h
    per_layer = s * b * h * (34.0 + scores)
    without = n_layer * per_layer
    checkpointed = 2.0 * s * b * h * n_layer + per_layer
    return without, checkpointed


def training_memory(
    n_params: float,
    n_layer: int,
    d_model: int,
    n_head: int,
    seq_len: int,
    micro_batch: int,
    n_gpus: int,
    device_bytes: float | None = None,
    flash_attention: bool = False,
    headroom: float = DEFAULT_HEADROOM,
) -> list[TrainingMemory]:
    """Memory per GPU under each of :data:`STRATEGIES`; a strategy fits when its total
    is at most ``device_bytes * (1 - headroom)``."""
    check_headroom(headroom)
    without, checkpointed = activation_bytes(
        n_layer, d_model, n_head, seq_len, micro_batch, flash_attention
    )
    rows = []
    for strategy in STRATEGIES:
        weights, grads, optimizer = model_state_bytes(n_params, strategy, n_gpus)
        rows.append(
            TrainingMemory(
                strategy=strategy,
                weights=weights,
                gradients=grads,
                optimizer=optimizer,
                activations=without,
                activations_checkpointed=checkpointed,
                device_bytes=device_bytes,
                headroom=headroom,
            )
        )
    return rows


def choose_strategy(rows: list[TrainingMemory]) -> tuple[TrainingMemory, bool]:
    """``(row, checkpointed)``: the least-sharded strategy that fits without activation
    checkpointing, else the least-sharded that fits with it, else ZeRO-3 with it."""
    for row in rows:
        if row.fits:
            return row, False
    for row in rows:
        if row.fits_checkpointed:
            return row, True
    return rows[-1], True


def memory_figures(row: TrainingMemory, checkpointed: bool, flash_attention: bool) -> list[Figure]:
    """The chosen strategy's memory per GPU (``choose_strategy``'s answer); none without
    a device."""
    if row.device_bytes is None:
        return []
    total = row.total_checkpointed if checkpointed else row.total
    fits = row.fits_checkpointed if checkpointed else row.fits
    how = (
        f"{STRATEGY_NAMES[row.strategy]}, activation checkpointing "
        f"{'on' if checkpointed else 'off'}{', FlashAttention' if flash_attention else ''}; "
        f"fits {row.device_bytes / 1e9:.0f} GB less {row.headroom:.0%} headroom: "
        f"{'yes' if fits else 'no'}"
    )
    return [Figure("memory", "memory per GPU (chosen)", total, "bytes", "derived", how)]
