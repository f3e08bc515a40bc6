"""fit_law's point weights, and its subsampled grid search for long tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalinglab.errors import ScalingLabError
from scalinglab.laws import ChinchillaLaw, fit_law
from scalinglab.laws import fitter as fitter_module

LAW = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def random_runs(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), n))
    D = np.exp(rng.uniform(np.log(1e8), np.log(1e12), n))
    loss = LAW.predict(N=N, D=D) * np.exp(rng.normal(0.0, 0.01, n))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


def test_integer_weights_equal_repeated_rows():
    runs = random_runs(60)
    counts = np.random.default_rng(1).integers(0, 4, len(runs))
    weighted = fit_law("chinchilla", runs, weights=counts)
    repeated = fit_law("chinchilla", runs.loc[runs.index.repeat(counts)])
    assert weighted.value == pytest.approx(repeated.value, rel=1e-8)
    for name, value in repeated.params.items():
        assert weighted.params[name] == pytest.approx(value, rel=1e-4), name


def test_bad_weights_are_errors():
    runs = random_runs(20)
    with pytest.raises(ScalingLabError, match="3 weights were given for 20 points"):
        fit_law("chinchilla", runs, weights=[1, 2, 3])
    with pytest.raises(ScalingLabError, match="weights must be finite"):
        fit_law("chinchilla", runs, weights=-np.ones(20))


def test_subsampled_search_reaches_the_full_search_minimum(monkeypatch):
    runs = random_runs(900, seed=2)
    full = fit_law("chinchilla", runs)
    monkeypatch.setattr(fitter_module, "SEARCH_ROWS", 300)
    sampled = fit_law("chinchilla", runs)
    assert sampled.message.startswith("grid search on 300 of 900 points")
    assert sampled.value == pytest.approx(full.value, rel=1e-9)
    for name, value in full.params.items():
        assert sampled.params[name] == pytest.approx(value, rel=1e-5), name
