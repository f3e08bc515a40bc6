"""Intervals on the compute-optimal allocation from a fit's bootstrap samples.

Each bootstrap sample of a fitted law (``scalinglab fit --bootstrap K --json``) is a
law of its own; allocating the same budget with each gives samples of ``N*``, ``D*``
and tokens per parameter, whose central ``ci_level`` percentiles are the intervals.
With a bootstrap by model size (the default when sizes have several runs) they include
the size-to-size error of the runs, not only their noise.
"""

from __future__ import annotations

import numpy as np

from scalinglab.plan.allocation import compute_optimal
from scalinglab.plan.law_source import LoadedLaw

#: The allocation quantities that get an interval.
ALLOCATION_KEYS = ("n_opt", "d_opt", "tokens_per_param")


def allocation_intervals(loaded: LoadedLaw, flops: float) -> dict[str, tuple[float, float]] | None:
    """``{n_opt, d_opt, tokens_per_param: (lower, upper)}`` at ``flops`` FLOPs, or None
    when the law has no bootstrap samples (a preset)."""
    if loaded.samples is None:
        return None
    form = type(loaded.law)
    names = form.parameter_names()
    rows = np.column_stack([loaded.samples[name] for name in names])
    values = []
    for row in rows:
        allocation = compute_optimal(form(*row), flops)
        values.append((allocation.n, allocation.d, allocation.tokens_per_param))
    samples = np.array(values)
    samples = samples[np.all(np.isfinite(samples), axis=1)]
    if samples.size == 0:
        return None
    tail = (1.0 - loaded.ci_level) / 2.0 * 100.0
    lo, hi = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return {key: (float(lo[i]), float(hi[i])) for i, key in enumerate(ALLOCATION_KEYS)}
