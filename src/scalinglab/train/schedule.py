"""Learning-rate schedules as pure functions of the optimizer step.

- ``cosine``: linear warmup from 0 to the peak over ``warmup`` steps, then a half-cosine
  from the peak to ``min_ratio * peak`` at ``total`` steps (Loshchilov & Hutter 2017;
  the schedule of Kaplan et al. 2020 and Hoffmann et al. 2022, who decay to 10%).
- ``wsd`` (warmup-stable-decay; Hu et al. 2024, MiniCPM; Hägele et al. 2024, "Scaling
  Laws and Compute-Optimal Training Beyond Fixed Training Durations"): warmup, a constant
  peak, then a cooldown over the last ``cooldown`` steps to ``min_ratio * peak``.
  Hägele et al. find a ``1 - sqrt`` cooldown over about 20% of the run matches or beats
  cosine; both ``linear`` and ``sqrt`` shapes are offered, ``sqrt`` is the default.
- ``constant``: warmup then the peak; the stable phase of a WSD run that cooldown
  branches start from.

Because the stable phase of WSD does not depend on ``total``, a WSD run of ``T`` steps
equals the stable run up to step ``T - cooldown`` followed by its cooldown; this is what
makes cooldown branches from one stable run exact (:mod:`scalinglab.train.wsd`).
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "wsd", "constant")
COOLDOWN_SHAPES = ("sqrt", "linear")


def warmup_factor(step: int, warmup: int) -> float:
    """Linear warmup: ``(step + 1) / warmup`` for the first ``warmup`` steps, then 1."""
    if warmup <= 0 or step >= warmup:
        return 1.0
    return (step + 1) / warmup


def cosine_lr(step: int, *, peak: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Learning rate at ``step`` (0-based) of a warmup + cosine schedule of ``total`` steps."""
    if step < warmup:
        return peak * warmup_factor(step, warmup)
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return peak * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def wsd_lr(
    step: int,
    *,
    peak: float,
    warmup: int,
    total: int,
    cooldown: int,
    min_ratio: float = 0.0,
    shape: str = "sqrt",
) -> float:
    """Learning rate at ``step`` of warmup-stable-decay with a ``cooldown``-step decay."""
    if step < warmup:
        return peak * warmup_factor(step, warmup)
    start = total - cooldown
    if cooldown <= 0 or step < start:
        return peak
    progress = min(1.0, (step - start + 1) / cooldown)
    decay = math.sqrt(progress) if shape == "sqrt" else progress
    return peak * (1.0 - (1.0 - min_ratio) * decay)


def constant_lr(step: int, *, peak: float, warmup: int) -> float:
    """Warmup, then the peak forever."""
    return peak * warmup_factor(step, warmup)


def cooldown_steps(total: int, fraction: float) -> int:
    """Steps of a WSD cooldown that takes ``fraction`` of a ``total``-step run (at least 1)."""
    return max(1, round(total * fraction))
