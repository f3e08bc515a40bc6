"""The learning-rate stability diagnostic (benchmarks/quickstart_lr_stability.py): each
estimator recovers a known law from exact parabolas, and pooling averages seeds."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "quickstart_lr_stability.py"
RATES = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)
WIDTHS = (1e4, 4e4, 1.6e5, 6.4e5)
TARGET_N = 2.56e6


def _script():
    spec = importlib.util.spec_from_file_location("quickstart_lr_stability", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _best_rate(n: float) -> float:
    return 0.05 * n**-0.25


def _pilot(offset: float = 0.0) -> pd.DataFrame:
    """Exact parabolas in log lr (curvature 0.1), minima 0.05 N^-0.25 (inside the grid)."""
    rows = [
        {
            "N": n,
            "D": 1e10 / n,
            "lr": lr,
            "loss": 3 + offset + 0.1 * math.log(lr / _best_rate(n)) ** 2,
        }
        for n in WIDTHS
        for lr in RATES
    ]
    return pd.DataFrame(rows)


def test_every_law_estimator_recovers_a_known_law():
    rates = _script().rates_at(_pilot(), TARGET_N)
    for name in ("ols", "wls", "theil-sen", "joint"):
        exponent, rate = rates[name]
        assert exponent == pytest.approx(-0.25, abs=1e-3), name
        assert rate == pytest.approx(_best_rate(TARGET_N), rel=1e-2), name
    exponent, rate = rates["constant"]
    geometric_mean = math.exp(sum(math.log(_best_rate(n)) for n in WIDTHS[1:]) / 3)
    assert exponent == 0
    assert rate == pytest.approx(geometric_mean, rel=1e-6)


def test_pooling_averages_the_runs_every_pilot_has():
    first, second = _pilot(0.0), _pilot(0.2)
    second.loc[0, "loss"] = math.nan  # diverged in one seed: that run leaves the pool
    pooled = _script().pool([first, second])
    assert len(pooled) == len(first) - 1
    expected = first["loss"].iloc[1:].to_numpy() + 0.1
    assert pooled["loss"].to_numpy() == pytest.approx(expected)
