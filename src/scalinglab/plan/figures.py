"""A planned number with the way it was obtained, and the list of a plan's numbers.

Every figure the planner reports carries its ``source``, one of :data:`SOURCES`, and a
short ``how`` (the formula or the citation), so that a reader can tell a fitted number
from a catalogue figure from an assumption. :func:`plan_figures` lists a plan's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from scalinglab.laws.forms import DataConstrainedLaw
from scalinglab.models.counting import count_params
from scalinglab.plan.candidates import size_label
from scalinglab.plan.inference import InferenceCost
from scalinglab.plan.loss import predict_loss
from scalinglab.plan.memory import STRATEGY_NAMES

if TYPE_CHECKING:
    from scalinglab.plan.planner import Plan

SOURCES = (
    "fit",  # a law fitted by `scalinglab fit`
    "preset",  # a published law's constants
    "catalogue",  # the hardware catalogue (vendor datasheets) or a user's hardware file
    "assumed",  # a default the user did not set
    "user",  # given on the command line
    "calibrated",  # derived from a measured or published training run
    "derived",  # arithmetic on the figures above
)


@dataclass(frozen=True)
class Figure:
    """One reported number of a plan ``section``: ``value`` in ``unit``, with its
    ``source`` and ``how``."""

    section: str
    name: str
    value: float | str | None
    unit: str
    source: str
    how: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown figure source {self.source!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_figures(plan: Plan) -> list[Figure]:
    """Every headline number of ``plan`` with its source; the CLI prints these as tables."""
    unique_tokens = plan.unique_tokens
    law_source = plan.law.source
    optimum = plan.compute_optimal
    figures = [
        Figure(
            "budget",
            "training compute C",
            plan.budget.flops,
            "FLOPs",
            _budget_source(plan),
            plan.budget.how,
        ),
        Figure("allocation", "N* parameters", optimum.n, "params", law_source, optimum.how),
        *_interval_figure(plan, "n_opt", "N* interval", "params"),
        Figure("allocation", "D* tokens", optimum.d, "tokens", law_source, "C / (6 N*)"),
        *_interval_figure(plan, "d_opt", "D* interval", "tokens"),
        Figure(
            "allocation",
            "tokens per parameter",
            optimum.tokens_per_param,
            "tokens/param",
            "derived",
            "D* / N*",
        ),
        *_interval_figure(
            plan, "tokens_per_param", "tokens per parameter interval", "tokens/param"
        ),
        Figure(
            "allocation",
            "predicted loss",
            optimum.loss,
            "nats/token",
            law_source,
            f"L(N*, D*) from {plan.law.citation}",
        ),
        Figure(
            "allocation",
            "loss interval",
            "n/a"
            if plan.loss_interval is None
            else f"[{plan.loss_interval[0]:.4f}, {plan.loss_interval[1]:.4f}]",
            "nats/token",
            law_source,
            plan.law.interval_note,
        ),
    ]
    if plan.law.compute_law is not None:
        figures.append(
            Figure(
                "allocation",
                "loss from the compute law L(C)",
                float(plan.law.compute_law.predict(C=plan.budget.flops)),
                "nats/token",
                law_source,
                "Kaplan eq. 1.3, L(C_min) = (3.1e8 PF-days / C)**0.050: early-stopped "
                "frontier, above the converged L(N*, D*)",
            )
        )
    if plan.inference_aware is not None:
        aware = plan.inference_aware
        base_lifetime = optimum.flops + (aware.inference_flops or 0.0) * optimum.n / aware.n
        figures += [
            Figure("inference-aware", "N", aware.n, "params", "derived", aware.how),
            Figure(
                "inference-aware",
                "D",
                aware.d,
                "tokens",
                "derived",
                "tokens reaching the same loss",
            ),
            Figure("inference-aware", "training compute", aware.flops, "FLOPs", "derived", "6ND"),
            Figure(
                "inference-aware",
                "lifetime compute saved vs N*",
                1.0 - (aware.flops + (aware.inference_flops or 0.0)) / base_lifetime,
                "fraction",
                "derived",
                "1 - (6ND + 2NI) / (6N*D* + 2N*I)",
            ),
        ]
    if plan.data_constrained is not None and unique_tokens is not None:
        dc = plan.data_constrained
        figures += [
            Figure(
                "data-constrained",
                "unique tokens",
                unique_tokens,
                "tokens",
                "user",
                "--unique-tokens",
            ),
            Figure("data-constrained", "N", dc.n, "params", "derived", dc.how),
            Figure("data-constrained", "D (with repeats)", dc.d, "tokens", "derived", "C / (6N)"),
            Figure(
                "data-constrained", "epochs", dc.epochs, "epochs", "derived", "D / unique tokens"
            ),
            Figure(
                "data-constrained",
                "predicted loss",
                dc.loss,
                "nats/token",
                law_source,
                "Muennighoff eq. 5, "
                + (
                    "the law's own R_D*, R_N*"
                    if isinstance(plan.law.law, DataConstrainedLaw)
                    else "R_D* = 15.4, R_N* = 5.3 of Muennighoff et al. 2023 (assumed here)"
                ),
            ),
            Figure(
                "data-constrained",
                "loss of N*, D* on this data",
                float(predict_loss(plan.law.law, optimum.n, optimum.d, unique_tokens)),
                "nats/token",
                law_source,
                "the compute-optimal allocation, repeats discounted",
            ),
        ]
    shape = plan.shape
    counts = count_params(shape)
    figures += [
        Figure(
            "shape",
            "shape for N*",
            f"{shape.n_layer} layers x d_model {shape.d_model}, {shape.n_head} heads, "
            f"d_ff {shape.d_ff}",
            "",
            "derived",
            f"ladder rules (scalinglab.models.ladder), vocab {shape.vocab_size}, "
            f"context {shape.n_ctx}",
        ),
        Figure(
            "shape", "parameters of the shape", counts.total, "params", "derived", "exact count"
        ),
        Figure(
            "training",
            "FLOPs 6ND",
            optimum.flops,
            "FLOPs",
            "derived",
            "6 N* D* (the laws' convention)",
        ),
        Figure(
            "training",
            "FLOPs exact for the shape",
            plan.shape_flops_exact,
            "FLOPs",
            "derived",
            "3 x forward matmul FLOPs per token x D* "
            f"({plan.shape_flops_exact / optimum.flops:.3f} x 6ND)",
        ),
    ]
    hardware = plan.hardware
    if hardware.gpu is None:
        return figures
    gpu = hardware.gpu
    figures += [
        Figure("hardware", "device", gpu.name, "", "catalogue", gpu.source),
        Figure(
            "hardware",
            f"peak {hardware.precision}",
            hardware.peak,
            "FLOP/s",
            "catalogue",
            "dense tensor-core peak",
        ),
        Figure("hardware", "memory", gpu.memory_bytes, "bytes", "catalogue", f"entry {gpu.key}"),
        Figure(
            "hardware",
            "bandwidth",
            gpu.bandwidth_bytes_per_s,
            "bytes/s",
            "catalogue",
            f"entry {gpu.key}",
        ),
        Figure(
            "hardware",
            "MFU",
            hardware.calibration.mfu,
            "fraction",
            hardware.calibration.source,
            hardware.calibration.how,
        ),
        Figure(
            "training",
            "GPU-hours",
            plan.training["train_gpu_hours"],
            "h",
            "derived",
            "6ND / (MFU x peak) / 3600",
        ),
        Figure(
            "training",
            f"wall time on {hardware.gpus} GPUs",
            plan.training["wall_hours"],
            "h",
            "derived",
            "GPU-hours / GPUs (perfect scaling)",
        ),
    ]
    if hardware.price_per_gpu_hour is not None:
        figures.append(
            Figure(
                "training",
                "cost",
                plan.training["train_cost_dollars"],
                "$",
                "derived",
                f"GPU-hours x ${hardware.price_per_gpu_hour}/GPU-hour (user)",
            )
        )
    chosen, checkpointed = plan.memory_choice
    total = chosen.total_checkpointed if checkpointed else chosen.total
    figures.append(
        Figure(
            "memory",
            "memory per GPU (chosen)",
            total,
            "bytes",
            "derived",
            f"{STRATEGY_NAMES[chosen.strategy]}, activation checkpointing "
            f"{'on' if checkpointed else 'off'}"
            f"{', FlashAttention' if plan.flash_attention else ''}; "
            f"fits {gpu.memory_bytes / 1e9:.0f} GB: "
            f"{'yes' if total <= gpu.memory_bytes else 'no'}",
        )
    )
    if plan.inference is not None:
        figures += _inference_figures(plan.inference, plan.family)
    return figures


def _interval_figure(plan: Plan, key: str, name: str, unit: str) -> list[Figure]:
    """The ``ci_level`` interval of an allocation figure, when the fit has samples."""
    if plan.allocation_interval is None:
        return []
    lo, hi = plan.allocation_interval[key]
    label = size_label if unit in ("params", "tokens") else (lambda x: f"{x:.3g}")
    text = f"[{label(lo)}, {label(hi)}]"
    how = (
        f"{plan.law.ci_level:.0%} interval: each bootstrap sample's law allocates the same "
        "budget; central percentiles"
    )
    return [Figure("allocation", name, text, unit, plan.law.source, how)]


def _budget_source(plan: Plan) -> str:
    if plan.budget.kind == "flops":
        return "user"
    if plan.budget.kind == "target_loss":
        return plan.law.source
    return "derived"


def _inference_figures(inf: InferenceCost, family: str) -> list[Figure]:
    from scalinglab.models.families import get_family

    if get_family(family).inference == "encoder":
        figures = [
            Figure(
                "inference",
                "encoder latency per sequence",
                inf.encoder_seconds_per_sequence * 1e3,
                "ms",
                "derived",
                f"max(FLOPs / peak, weights / bandwidth), {inf.context} tokens, bidirectional",
            ),
            Figure(
                "inference",
                f"throughput, batch {inf.batch}",
                inf.throughput_tokens_per_s,
                "tokens/s",
                "derived",
                "B s / max(B x FLOPs / peak, weights / bandwidth)",
            ),
        ]
        return figures + _lifetime(inf)
    figures = [
        Figure(
            "inference",
            "prefill FLOPs",
            inf.prefill_flops,
            "FLOPs",
            "derived",
            f"2NP + 2LdP^2, P = {inf.context}",
        ),
        Figure(
            "inference",
            "decode time per token, batch 1",
            inf.decode_seconds_per_token_batch1 * 1e3,
            "ms",
            "derived",
            "max(bytes / bandwidth, FLOPs / peak)",
        ),
        Figure(
            "inference",
            f"KV cache, batch {inf.batch}",
            inf.kv_cache_bytes,
            "bytes",
            "derived",
            f"2 L d T B bytes/value, T = {inf.context}",
        ),
        Figure(
            "inference",
            f"throughput, batch {inf.batch}",
            inf.throughput_tokens_per_s,
            "tokens/s",
            "derived",
            "B / decode step time",
        ),
    ]
    return figures + _lifetime(inf)


def _lifetime(inf: InferenceCost) -> list[Figure]:
    if inf.lifetime_gpu_hours is None:
        return []
    return [
        Figure(
            "inference",
            "lifetime inference GPU-hours",
            inf.lifetime_gpu_hours,
            "h",
            "derived",
            "inference tokens / throughput / 3600",
        )
    ]
