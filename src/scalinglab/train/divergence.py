"""Divergence detection: a run whose loss is not finite or spikes is stopped and marked.

The monitor follows an exponential moving average of the training loss (decay 0.9, so
single noisy small batches do not trigger it) and its running minimum. The run diverges
when a loss is NaN or infinite, or when the average exceeds ``factor`` times its running
minimum (default 2: a loss that doubles from its best is far outside the noise of a
healthy run, and a run that blew up does not recover within the budgets we train).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

EMA_DECAY = 0.9


@dataclass
class DivergenceMonitor:
    factor: float = 2.0
    ema: float | None = None
    best: float = math.inf

    def update(self, loss: float, step: int) -> str | None:
        """Feed the loss of ``step``; return the reason if the run diverged, else None."""
        if not math.isfinite(loss):
            return f"training loss is {loss} at step {step}"
        self.ema = loss if self.ema is None else EMA_DECAY * self.ema + (1 - EMA_DECAY) * loss
        self.best = min(self.best, self.ema)
        if self.ema > self.factor * self.best:
            return (
                f"smoothed training loss {self.ema:.4g} at step {step} exceeds "
                f"{self.factor:g} x its running minimum {self.best:.4g}"
            )
        return None

    def state(self) -> dict[str, Any]:
        return asdict(self)
