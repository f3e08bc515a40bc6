"""Bootstrap: Epoch's published intervals, seeding, and coverage on synthetic runs."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.laws import ChinchillaLaw, bootstrap_law, fit_law
from scalinglab.laws.bootstrap import percentile_interval, resample_counts
from scalinglab.laws.synthetic import isoflop_design

TRUTH = ChinchillaLaw(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


def test_resample_counts_draw_n_rows_with_replacement():
    counts = resample_counts(50, 200, seed=1)
    assert counts.shape == (200, 50)
    assert (counts.sum(axis=1) == 50).all()
    assert 0.55 < (counts > 0).mean() < 0.72  # about 1 - 1/e of the rows appear
    np.testing.assert_array_equal(counts, resample_counts(50, 200, seed=1))


def test_percentile_interval():
    assert percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0))


def test_prediction_band_contains_the_fit(epoch_table):
    fit = fit_law("chinchilla", epoch_table)
    boot = bootstrap_law("chinchilla", epoch_table, 100, seed=0, starts=fit.local_minima, n_jobs=1)
    lo, hi = boot.predict_interval(N=[1e9, 70e9], D=[20e9, 1.4e12])
    centre = fit.predict(N=[1e9, 70e9], D=[20e9, 1.4e12])
    assert (lo < centre).all()
    assert (centre < hi).all()
    assert set(boot.intervals()) == {"E", "A", "B", "alpha", "beta", "a", "b"}


@pytest.mark.slow
def test_epoch_published_intervals_with_4000_resamples(epoch_table):
    boot = bootstrap_law("chinchilla", epoch_table, 4000, seed=0, n_jobs=2)
    ci = boot.intervals()
    # Measured 8e-4 off at seed 0; other seeds move the ends by up to 2.4e-3, the Monte
    # Carlo error that Epoch's own 4,000-resample figures also carry.
    assert ci["alpha"] == pytest.approx((0.317, 0.373), abs=0.003)
    assert ci["beta"] == pytest.approx((0.331, 0.415), abs=0.003)


@pytest.mark.slow
def test_synthetic_recovery_and_interval_coverage():
    budgets = np.geomspace(1e18, 1e22, 16)  # 240 runs, as benchmarks/fit_recovery.py
    covered = []
    for seed in range(10):
        runs = isoflop_design(TRUTH, budgets, sizes_per_budget=15, span=8, noise=0.01, seed=seed)
        fit = fit_law("chinchilla", runs)
        # measured over these 10 seeds: at most 0.0197, 0.0134, 0.0071
        assert fit.params["alpha"] == pytest.approx(TRUTH.alpha, abs=0.02)
        assert fit.params["beta"] == pytest.approx(TRUTH.beta, abs=0.015)
        assert fit.law.a == pytest.approx(TRUTH.a, abs=0.01)
        boot = bootstrap_law("chinchilla", runs, 200, seed=seed, starts=fit.local_minima)
        ci = boot.intervals()
        covered += [ci[k][0] <= getattr(TRUTH, k) <= ci[k][1] for k in ("alpha", "beta", "a")]
    assert np.mean(covered) >= 0.8  # 30 intervals; the benchmark checks >= 90% on 100 repeats
