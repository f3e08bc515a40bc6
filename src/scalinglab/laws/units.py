"""Unit checks of a runs table: perplexity given as loss, sizes in millions, C off 6ND.

A runs table is in fixed units (``N`` parameters, ``D`` tokens, ``C`` FLOPs, ``loss``
nats/token; see the design notes). Three slips are common and give a confident, wrong
fit rather than an error, so they are caught before fitting:

* perplexity given as loss: a cross-entropy in nats/token over a vocabulary of ``V``
  tokens starts near ``ln V`` (10.8 for 50k, 12.5 for 256k) and only falls; a median
  above :data:`MAX_LOSS_NATS` is perplexity (or bits of a huge vocabulary): error;
* ``N`` or ``D`` in millions or billions: no language model has fewer than
  :data:`MIN_COUNT` parameters or training tokens: error;
* ``C`` far from ``6 N D``: exact FLOP counts of transformers lie within a small factor
  of ``6ND``; a median ratio outside [1/3, 3] is a warning, outside [1/100, 100] (e.g.
  PF-days, or C in units of 1e18) an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalinglab.errors import ScalingLabError

MAX_LOSS_NATS = 12.5
MIN_COUNT = 1e4
C_WARN = 3.0
C_ERROR = 100.0


def check_units(df: pd.DataFrame, *, derived_c: bool, source: str) -> list[str]:
    """Raise a one-line :class:`ScalingLabError` for values in the wrong unit; return
    warnings for suspicious ones. ``derived_c``: ``C`` was computed as 6ND (not checked)."""
    loss = df["loss"].to_numpy(dtype=float)
    if np.median(loss) > MAX_LOSS_NATS:
        raise ScalingLabError(
            f"{source}: loss values (median {np.median(loss):.3g}, {loss.min():.3g}-"
            f"{loss.max():.3g}) look like perplexity, not cross-entropy in nats/token (at most "
            f"about {MAX_LOSS_NATS}); give loss = ln(perplexity), e.g. a column val_loss"
        )
    for name, unit in (("N", "parameters"), ("D", "training tokens")):
        largest = float(df[name].max())
        if largest < MIN_COUNT:
            raise ScalingLabError(
                f"{source}: the largest {name} is {largest:g}, which looks like millions or "
                f"billions; give {name} as a count of {unit} (e.g. 1.3e9, not 1.3)"
            )
    if derived_c:
        return []
    ratio = float(np.median(df["C"] / (6.0 * df["N"] * df["D"])))
    if not 1 / C_ERROR <= ratio <= C_ERROR:
        raise ScalingLabError(
            f"{source}: column C is {ratio:.3g} times 6 N D (median over runs), so it is not "
            "in FLOPs (PF-days? units of 1e18?); convert it to FLOPs or drop the column to "
            "derive C = 6 N D"
        )
    if not 1 / C_WARN <= ratio <= C_WARN:
        return [
            f"column C is {ratio:.3g} times 6 N D (median over runs); exact transformer FLOP "
            "counts lie within a small factor of 6ND: check that C is training FLOPs, or drop "
            "it to derive C = 6 N D"
        ]
    return []
