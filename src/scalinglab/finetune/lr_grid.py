"""A learning-rate grid for fine-tuning: parse it, resolve it per method, choose on validation.

``finetune-sweep --lr-grid 0.3x,1x,3x`` trains every (model, method, seed) at each
learning rate of the grid and keeps, per (model, method), the rate whose validation
macro-F1 (mean over seeds) is best; the sweep's table then reports the test scores of
that rate alone, so the spread over seeds is a spread at one rate. Test scores never
enter the choice: :func:`choose_lr` reads ``val_macro_f1`` and nothing else.

Grid points are written two ways, which may be mixed:

- ``2x``: a multiple of the method's default learning rate
  (:func:`scalinglab.finetune.methods.default_lr`, or the sweep's own ``lr`` when set),
  so that one grid suits methods whose rates differ tenfold (full 1e-4, LoRA 1e-3);
- ``3e-5``: an absolute learning rate, the same for every method.

Ties in validation macro-F1 go to the smaller learning rate (the gentler update).
This module imports neither numpy nor torch, so that the CLI can show its help without them.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from scalinglab.errors import ScalingLabError

RECOMMENDED_GRID = "0.3x,1x,3x"  # half-decade steps around each method's default


@dataclass(frozen=True)
class LrPoint:
    """One grid point: an absolute rate, or (``relative``) a multiple of the method's rate."""

    value: float
    relative: bool = False

    def resolve(self, base_lr: float) -> float:
        """The learning rate this point means for a method whose rate is ``base_lr``."""
        return self.value * base_lr if self.relative else self.value

    def __str__(self) -> str:
        return f"{self.value:g}x" if self.relative else f"{self.value:g}"


def parse_lr_grid(text: str | None) -> tuple[LrPoint, ...]:
    """``"0.3x,1x,3x"`` or ``"1e-5,3e-5"`` (or a mix) -> grid points; empty -> no grid.

    Every value must be a positive finite number; a bad one is a one-line error.
    """
    points = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        relative = item.lower().endswith("x")
        try:
            value = float(item[:-1] if relative else item)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ScalingLabError(
                f"--lr-grid: {item!r} is not a positive learning rate or multiplier; "
                f"write e.g. {RECOMMENDED_GRID} (multiples of each method's default) "
                "or 1e-5,3e-5,1e-4"
            )
        points.append(LrPoint(value, relative))
    return tuple(points)


def grid_lrs(grid: tuple[LrPoint, ...], base_lr: float) -> list[float]:
    """The distinct learning rates of ``grid`` for a method whose rate is ``base_lr``, sorted."""
    return sorted({float(f"{point.resolve(base_lr):.6g}") for point in grid})


def choose_lr(runs_by_lr: dict[float, list[dict[str, Any]]]) -> float:
    """The learning rate whose runs have the best mean ``val_macro_f1``; ties -> the smaller.

    ``runs_by_lr`` maps each rate to its runs (one per seed), as the sweep's rows; only
    their ``val_macro_f1`` is read, never a test score. A NaN mean never wins.
    """
    means = {lr: _mean_validation(runs) for lr, runs in runs_by_lr.items()}
    ranked = sorted(means, key=lambda lr: (-_or_minus_inf(means[lr]), lr))
    return ranked[0]


def grid_report(
    model: str, method: str, runs_by_lr: dict[float, list[dict[str, Any]]], chosen: float
) -> list[dict[str, Any]]:
    """One row per rate of one (model, method): validation macro-F1 and whether it was chosen.

    ``val_macro_f1`` is the mean over seeds and ``val_macro_f1_std`` its spread;
    ``at_edge`` marks the smallest and largest rate of a grid of several (a chosen rate
    at the edge says the best may lie outside: widen the grid).
    """
    lrs = sorted(runs_by_lr)
    rows = []
    for lr in lrs:
        scores = [run["val_macro_f1"] for run in runs_by_lr[lr]]
        rows.append(
            {
                "model": model,
                "method": method,
                "lr": lr,
                "val_macro_f1": _mean_validation(runs_by_lr[lr]),
                "val_macro_f1_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "seeds": len(scores),
                "chosen": lr == chosen,
                "at_edge": len(lrs) > 1 and lr in (lrs[0], lrs[-1]),
            }
        )
    return rows


def _mean_validation(runs: list[dict[str, Any]]) -> float:
    return statistics.fmean(run["val_macro_f1"] for run in runs)


def _or_minus_inf(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
