"""Inference cost of a dense transformer: prefill FLOPs, decode time, KV cache, throughput.

Roofline lower bounds (Pope et al. 2022, "Efficiently Scaling Transformer Inference";
Kipply 2022, "Transformer inference arithmetic"): a step takes at least its bytes moved
over the memory bandwidth and at least its FLOPs over the peak, whichever is larger. A
decode step at batch ``B`` and context ``T`` reads all weights once and each sequence's
KV cache, and computes ``2 N + 4 L d T`` FLOPs per sequence (weights, then attention
logits and values over the cached tokens). Real kernels reach a fraction of both peaks,
so measured latencies are higher.

KV cache: ``2 (K and V) x L x d_model x T x B x bytes`` (multi-head attention; grouped-query
attention divides it by the group size). Prefill of ``P`` prompt tokens: ``2 N P + 2 L d P**2``
FLOPs (causal attention computes half the ``P x P`` scores). An encoder forward pass of
``s`` tokens: ``2 N s + 4 L d s**2`` FLOPs (bidirectional attention).

>>> t = decode_step_seconds(7e9, n_layer=32, d_model=4096, batch=1, context=1,
...                         bandwidth=2.039e12, peak_flops=312e12)
>>> round(t * 1e3, 2)
6.87
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scalinglab.plan.figure import Figure

BYTES_PER_VALUE = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}


def kv_cache_bytes(
    n_layer: int, d_model: int, context: int, batch: int, bytes_per_value: float = 2
) -> float:
    """Bytes of the keys and values of ``batch`` sequences of ``context`` tokens."""
    return 2.0 * n_layer * d_model * context * batch * bytes_per_value


def decode_step_seconds(
    n_params: float,
    n_layer: int,
    d_model: int,
    batch: int,
    context: int,
    bandwidth: float,
    peak_flops: float,
    bytes_per_value: float = 2,
) -> float:
    """Lower bound on one decode step (one new token for each of ``batch`` sequences)."""
    moved = n_params * bytes_per_value + kv_cache_bytes(
        n_layer, d_model, context, batch, bytes_per_value
    )
    flops = batch * (2.0 * n_params + 4.0 * n_layer * d_model * context)
    return max(moved / bandwidth, flops / peak_flops)


def prefill_flops(n_params: float, n_layer: int, d_model: int, prompt_tokens: int) -> float:
    """Forward FLOPs over a prompt of ``prompt_tokens`` (causal attention)."""
    p = float(prompt_tokens)
    return 2.0 * n_params * p + 2.0 * n_layer * d_model * p * p


def encoder_forward_flops(n_params: float, n_layer: int, d_model: int, seq_len: int) -> float:
    """Forward FLOPs of an encoder over one sequence (bidirectional attention)."""
    s = float(seq_len)
    return 2.0 * n_params * s + 4.0 * n_layer * d_model * s * s


@dataclass(frozen=True)
class InferenceCost:
    """Inference figures for one model on one device (seconds, bytes, FLOPs, tokens/s)."""

    prefill_flops: float
    prefill_seconds: float
    decode_seconds_per_token_batch1: float
    decode_step_seconds: float
    batch: int
    context: int
    kv_cache_bytes: float
    weights_bytes: float
    throughput_tokens_per_s: float
    encoder_seconds_per_sequence: float
    lifetime_gpu_hours: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def figures(self, encoder: bool, price_per_gpu_hour: float | None = None) -> list[Figure]:
        """Latency and throughput (an encoder's per sequence, a decoder's per token), then
        the lifetime GPU-hours and, with a price (dollars/GPU-hour), their cost."""
        figures = _encoder_figures(self) if encoder else _decoder_figures(self)
        if self.lifetime_gpu_hours is None:
            return figures
        figures.append(
            Figure(
                "inference",
                "lifetime inference GPU-hours",
                self.lifetime_gpu_hours,
                "h",
                "derived",
                "inference tokens / throughput / 3600",
            )
        )
        if price_per_gpu_hour is not None:
            figures.append(
                Figure(
                    "inference",
                    "lifetime inference cost",
                    self.lifetime_gpu_hours * price_per_gpu_hour,
                    "$",
                    "derived",
                    f"lifetime GPU-hours x ${price_per_gpu_hour}/GPU-hour (user)",
                )
            )
        return figures


def _throughput(inf: InferenceCost, how: str) -> Figure:
    return Figure(
        "inference",
        f"throughput, batch {inf.batch}",
        inf.throughput_tokens_per_s,
        "tokens/s",
        "derived",
        how,
    )


def _encoder_figures(inf: InferenceCost) -> list[Figure]:
    return [
        Figure(
            "inference",
            "encoder latency per sequence",
            inf.encoder_seconds_per_sequence * 1e3,
            "ms",
            "derived",
            f"max(FLOPs / peak, weights / bandwidth), {inf.context} tokens, bidirectional",
        ),
        _throughput(inf, "B s / max(B x FLOPs / peak, weights / bandwidth)"),
    ]


def _decoder_figures(inf: InferenceCost) -> list[Figure]:
    return [
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
        _throughput(inf, "B / decode step time"),
    ]


def inference_cost(
    n_params: float,
    n_layer: int,
    d_model: int,
    *,
    prompt_tokens: int,
    context: int,
    batch: int,
    bandwidth: float,
    peak_flops: float,
    bytes_per_value: float = 2,
    lifetime_tokens: float | None = None,
    encoder: bool = False,
) -> InferenceCost:
    """All inference figures; ``lifetime_tokens`` processed at ``batch`` give GPU-hours.

    A decoder generates its lifetime tokens one decode step at a time; an encoder
    (``encoder=True``) reads them in sequences of ``prompt_tokens``, ``batch`` sequences
    per forward pass, bounded by ``max(batch x FLOPs / peak, weights / bandwidth)``.
    """
    step = decode_step_seconds(
        n_params, n_layer, d_model, batch, context, bandwidth, peak_flops, bytes_per_value
    )
    single = decode_step_seconds(
        n_params, n_layer, d_model, 1, context, bandwidth, peak_flops, bytes_per_value
    )
    prefill = prefill_flops(n_params, n_layer, d_model, prompt_tokens)
    weights = n_params * bytes_per_value
    prefill_seconds = max(prefill / peak_flops, weights / bandwidth)
    encoder_flops = encoder_forward_flops(n_params, n_layer, d_model, prompt_tokens)
    if encoder:
        forward = max(batch * encoder_flops / peak_flops, weights / bandwidth)
        throughput = batch * prompt_tokens / forward
    else:
        throughput = batch / step
    return InferenceCost(
        prefill_flops=prefill,
        prefill_seconds=prefill_seconds,
        decode_seconds_per_token_batch1=single,
        decode_step_seconds=step,
        batch=batch,
        context=context,
        kv_cache_bytes=kv_cache_bytes(n_layer, d_model, context, batch, bytes_per_value),
        weights_bytes=weights,
        throughput_tokens_per_s=throughput,
        encoder_seconds_per_sequence=max(encoder_flops / peak_flops, weights / bandwidth),
        lifetime_gpu_hours=None if lifetime_tokens is None else lifetime_tokens / throughput / 3600,
    )
